"""Scanning a building's QR code places the resident there; "2单元301" then completes the address."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from bot.simulator import message_xml
from storage.db import transaction
from storage.models import Resident
from tests.conftest import pushes, tickets

ZHANG = "demo-resident-zhang"  # 3号楼2单元301, grid 1
NEWCOMER = "o-newcomer-0001"  # not in the register
# Events are told apart by sender, CreateTime and type: two scans need two different seconds.
_SECONDS = itertools.count(1_795_000_000)


def where(factory, openid: str) -> tuple[str | None, str | None, str | None]:
    """The resident's building, unit and room."""
    with transaction(factory) as session:
        resident = session.scalar(select(Resident).where(Resident.openid == openid))
        building = resident.building.name if resident.building else None
        return building, resident.unit, resident.room


def scan(wechat, openid: str, scene: str) -> str | None:
    """A follower scans a parametrised code: WeChat sends SCAN with the scene as EventKey."""
    body = message_xml(openid, "event", {"Event": "SCAN", "EventKey": scene}, create_time=next(_SECONDS))
    return wechat.reply(wechat.post_xml(body))


def follow_by_scanning(wechat, openid: str, scene: str) -> str | None:
    """Following by scanning a parametrised code: WeChat sends subscribe, EventKey qrscene_<scene>."""
    return wechat.event(openid, "subscribe", f"qrscene_{scene}")


def test_following_through_a_building_code_places_the_resident_and_asks_for_the_room(wechat, factory) -> None:
    reply = follow_by_scanning(wechat, NEWCOMER, "building:3号楼")
    assert reply.startswith("欢迎关注")
    assert "已为您登记到3号楼,属于第一网格。请回复单元和房号,例如“2单元301”" in reply
    assert "王芳" in reply and "您还没有登记住址" not in reply
    assert where(factory, NEWCOMER) == ("3号楼", None, None)
    reply = wechat.say(NEWCOMER, "2单元301")
    assert reply.startswith("登记成功:3号楼2单元301,属于第一网格。")
    assert where(factory, NEWCOMER) == ("3号楼", "2", "301")


def test_a_follower_who_scans_is_placed_at_once_and_may_answer_with_the_room_alone(wechat, factory) -> None:
    wechat.event(NEWCOMER, "subscribe")
    reply = scan(wechat, NEWCOMER, "building:5号楼")
    assert reply.startswith("已为您登记到5号楼,属于第二网格。") and "李骁" in reply
    assert wechat.say(NEWCOMER, "502室").startswith("登记成功:5号楼502,属于第二网格。")
    assert where(factory, NEWCOMER) == ("5号楼", None, "502")


def test_units_and_rooms_are_understood_as_residents_write_them(wechat, factory) -> None:
    scan(wechat, NEWCOMER, "building:3号楼")
    assert "3号楼2单元301" in wechat.say(NEWCOMER, "二单元301室")
    assert "3号楼1单元402" in wechat.say(NEWCOMER, "绑定 1单元402")
    assert "5号楼2单元502" in wechat.say(NEWCOMER, "5号楼2单元502")  # the full form still works
    assert where(factory, NEWCOMER) == ("5号楼", "2", "502")


def test_a_bare_number_is_not_taken_as_a_room_once_the_address_is_complete(wechat, factory) -> None:
    scan(wechat, NEWCOMER, "building:3号楼")
    wechat.say(NEWCOMER, "2单元301")
    wechat.say(NEWCOMER, "502")
    assert where(factory, NEWCOMER) == ("3号楼", "2", "301")


def test_an_emergency_number_is_never_a_room(wechat, factory) -> None:
    scan(wechat, NEWCOMER, "building:3号楼")
    assert "登记成功" not in (wechat.say(NEWCOMER, "120") or "")
    assert where(factory, NEWCOMER) == ("3号楼", None, None)


def test_a_ticket_opened_before_the_scan_moves_to_the_buildings_worker(wechat, factory) -> None:
    wechat.say(NEWCOMER, "家里水管漏了")
    reply = scan(wechat, NEWCOMER, "building:2号楼")
    assert "您之前的工单 #1 已转给网格员跟进" in reply
    [ticket] = tickets(factory)
    assert ticket.assignee.name == "王芳" and ticket.grid.code == "G1"
    assert pushes(factory)[-1].recipient == "demo-worker-wang"


def test_a_scan_does_not_overwrite_a_complete_address(wechat, factory) -> None:
    assert "您已登记在3号楼2单元301" in scan(wechat, ZHANG, "building:3号楼")
    reply = scan(wechat, ZHANG, "building:5号楼")
    assert "您目前登记的住址是3号楼2单元301" in reply and "绑定 5号楼2单元301" in reply
    assert where(factory, ZHANG) == ("3号楼", "2", "301")


def test_other_codes_and_unknown_buildings_change_nothing(wechat, factory) -> None:
    assert scan(wechat, NEWCOMER, "poster:2026-spring") is None
    assert "您还没有登记住址" in scan(wechat, NEWCOMER, "building:99号楼")
    reply = follow_by_scanning(wechat, NEWCOMER, "poster:2026-spring")
    assert reply.startswith("欢迎关注") and "您还没有登记住址" in reply
    assert where(factory, NEWCOMER) == (None, None, None)
