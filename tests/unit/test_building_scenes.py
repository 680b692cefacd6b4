"""Building QR code scenes, and the unit and room a resident placed in a building sends."""

from __future__ import annotations

import pytest

from bot.qrcodes import file_stem
from handlers.messages.binding import Address, address_for, building_in_scene, building_scene
from storage.models import Building, Resident


def test_a_building_scene_round_trips_and_other_scenes_are_not_buildings() -> None:
    assert building_scene("3号楼") == "building:3号楼"
    assert building_in_scene(building_scene("3号楼")) == "3号楼"
    assert building_in_scene("poster:spring") is building_in_scene("building:") is building_in_scene(None)
    assert building_in_scene("poster:spring") is None


def placed(room: str | None = None) -> Resident:
    return Resident(openid="o-x", building=Building(name="3号楼"), unit="2" if room else None, room=room)


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("2单元301", Address("3号楼", "2", "301")),
        ("二单元301室", Address("3号楼", "2", "301")),
        ("绑定1门1502", Address("3号楼", "1", "1502")),
        ("301", Address("3号楼", None, "301")),
        ("5号楼1单元502", Address("5号楼", "1", "502")),
        ("120", None),
        ("2单元", None),
        ("301漏水了", None),
    ],
)
def test_a_resident_waiting_to_give_the_room_may_send_unit_and_room(text, address) -> None:
    assert address_for(placed(), text) == address


def test_a_bare_number_from_a_complete_address_or_an_unplaced_resident_is_not_an_address() -> None:
    assert address_for(placed(room="301"), "502") is None
    assert address_for(placed(room="301"), "1单元502") == Address("3号楼", "1", "502")
    assert address_for(Resident(openid="o-y"), "2单元301") is None


def test_png_names_are_the_building_names_made_safe() -> None:
    assert file_stem("3号楼") == "3号楼"
    assert file_stem("../A/B:座") == "_A_B_座"
    assert file_stem("..") == "building"
