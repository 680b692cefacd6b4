"""Binding a resident to their building and room, which decides their grid and worker."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from handlers.context import Reply, Services
from handlers.language.normalize import int_from_text
from handlers.people.claims import CODE_DIGITS, settle_register_entry
from handlers.texts import ASK_ADDRESS, ASK_UNIT_ROOM, BIND_EXAMPLE
from handlers.tickets.core import (
    assign,
    hand_to,
    new_ticket_push,
    open_tickets,
    record_event,
)
from handlers.tickets.ladder import START_LEVELS
from storage.models import Building, Resident
from storage.outbox import queue_push
from storage.repositories.households import building_named

log = logging.getLogger(__name__)

_NUMBER = r"[0-9零一二两三四五六七八九十]+"
ADDRESS = re.compile(
    rf"^(?:绑定|登记|地址|住址)?[::]?(?:我住|我家住|住在)?(?P<building>{_NUMBER})(?:号楼|号|栋|幢|楼)"
    rf"(?:(?P<unit>{_NUMBER})(?:单元|门))?(?P<room>[0-9]{{3,4}})(?:室|号|房)?"
    # The six-digit code a worker gave, for a register entry that needs proof
    # (handlers/people/claims/codes.py).
    rf"(?:绑定码|验证码)?(?P<code>[0-9]{{{CODE_DIGITS}}})?$"
)
# What a resident already placed in a building (by scanning its QR code) sends: "2单元301", "301室".
UNIT_ROOM = re.compile(
    rf"^(?:绑定|登记|地址|住址)?[::]?(?:我住|我家住|住在)?"
    rf"(?:(?P<unit>{_NUMBER})(?:单元|门))?(?P<room>[0-9]{{3,4}})(?:室|号|房)?$"
)
# A bare emergency number is a cry for help, never a room.
HOTLINES = frozenset({"110", "119", "120", "122"})
BIND_COMMAND = re.compile(r"^(?:绑定|登记)")
# Building QR codes carry this scene (QR_LIMIT_STR_SCENE), e.g. "building:3号楼".
SCENE_PREFIX = "building:"


@dataclass(frozen=True)
class Address:
    """A building, unit and room parsed from what a resident wrote."""

    building: str
    unit: str | None
    room: str
    code: str | None = None


def parse_address(normalized: str) -> Address | None:
    """'绑定3号楼2单元301' or '三号楼二单元301' -> Address; None when it is not an address."""
    match = ADDRESS.match(normalized)
    if match is None:
        return None
    unit = match.group("unit")
    return Address(
        building=f"{int_from_text(match.group('building'))}号楼",
        unit=str(int_from_text(unit)) if unit else None,
        room=match.group("room"),
        code=match.group("code"),
    )


def address_for(resident: Resident, normalized: str) -> Address | None:
    """A full address; or, for a resident already in a building, the unit and room completing it."""
    address = parse_address(normalized)
    if address is not None or resident.building is None:
        return address
    match = UNIT_ROOM.match(normalized)
    if match is None or normalized in HOTLINES:
        return None
    unit = match.group("unit")
    if unit is None and resident.room is not None:
        # A bare number from someone whose address is complete is not a new address.
        return None
    return Address(resident.building.name, str(int_from_text(unit)) if unit else None, match.group("room"))


def building_scene(name: str) -> str:
    """The scene a building's QR code carries."""
    return SCENE_PREFIX + name


def building_in_scene(scene: str | None) -> str | None:
    """The building a QR code's scene names, or None for any other scene."""
    if scene and scene.startswith(SCENE_PREFIX):
        return scene.removeprefix(SCENE_PREFIX) or None
    return None


def looks_like_binding(normalized: str) -> bool:
    """'绑定 ...' is meant as a binding even when the address is malformed."""
    return bool(BIND_COMMAND.match(normalized))


def handle_binding(
    services: Services, resident: Resident, address: Address | None, message_id: int | None = None
) -> Reply:
    """Bind the resident to a known building and hand their unplaced tickets to its grid."""
    if address is None:
        return Reply(f"请按“绑定 楼号单元房号”的格式回复,例如“绑定 {BIND_EXAMPLE}”。")
    building = _building_named(services, address.building)
    if building is None:
        return Reply(
            f"没有找到“{address.building}”,请核对楼号后再发一次;也可以回复“人工”,由社区工作人员联系您。"
        )
    resident.building, resident.unit, resident.room = building, address.unit, address.room
    lines = [f"登记成功:{resident.address},属于{building.grid.name}。"]
    lines += settle_register_entry(services, resident, address.code)
    lines += _placed_lines(services, resident, message_id)
    return Reply("\n".join(lines))


def handle_building_scan(
    services: Services, resident: Resident, building_name: str, message_id: int | None = None
) -> Reply:
    """A resident scanned a building's QR code: place them in it at once and ask for unit and room."""
    building = _building_named(services, building_name)
    if building is None:
        log.warning("QR code for unknown building %r scanned", building_name)
        return Reply(ASK_ADDRESS if resident.building is None else None)
    if resident.building is not None and resident.room is not None:
        # A scan is weaker than an address the resident typed: it may be a neighbour's poster.
        if resident.building.id == building.id:
            return Reply(f"您已登记在{resident.address},无需重复登记。")
        return Reply(
            f"您目前登记的住址是{resident.address}。如果已搬到{building.name},"
            f"请回复新地址,例如“绑定 {building.name}2单元301”。"
        )
    resident.building, resident.unit, resident.room = building, None, None
    lines = [f"已为您登记到{building.name},属于{building.grid.name}。{ASK_UNIT_ROOM}"]
    lines += _placed_lines(services, resident, message_id)
    return Reply("\n".join(lines))


def _building_named(services: Services, name: str) -> Building | None:
    return building_named(services.session, name)


def _placed_lines(services: Services, resident: Resident, message_id: int | None) -> list[str]:
    """Hand unplaced tickets to the resident's new grid; the lines naming their worker and those tickets."""
    moved = _hand_over_unplaced(services, resident, message_id)
    worker = resident.building.grid.worker if resident.building else None
    lines = []
    if worker is not None:
        lines.append(f"您的网格员是{worker.name},电话 {worker.phone or '见小区公告栏'}。")
    if moved:
        lines.append(f"您之前的工单 {'、'.join(f'#{n}' for n in moved)} 已转给网格员跟进。")
    return lines


def _hand_over_unplaced(services: Services, resident: Resident, message_id: int | None) -> list[int]:
    """Tickets opened before the resident was bound go from the duty desk to their grid."""
    grid = resident.building.grid if resident.building else None
    moved = []
    for ticket in open_tickets(services, resident):
        if ticket.grid is not None:
            continue
        assignment = assign(services, grid)
        ticket.grid = grid
        hand_to(services, ticket, assignment.worker, START_LEVELS[assignment.reason])
        if ticket.status == "new" and assignment.worker is not None:
            ticket.status = "assigned"
        ticket.updated_at = services.now
        record_event(services, ticket, "reassigned", "系统", f"居民登记住址 {resident.address}")
        if assignment.worker is not None:
            text = new_ticket_push(services, ticket, via_backup=assignment.reason == "backup")
            queue_push(
                services.session,
                services.now,
                worker=assignment.worker,
                kind="reassigned",
                text=text,
                ticket=ticket,
                message_id=message_id,
            )
        moved.append(ticket.id)
    return sorted(moved)
