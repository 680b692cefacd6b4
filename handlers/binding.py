"""Binding a resident to their building and room, which decides their grid and worker."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from bot.normalize import int_from_text
from handlers.context import Reply, Services
from handlers.ladder import START_LEVELS
from handlers.texts import BIND_EXAMPLE
from handlers.tickets import (
    choose_assignee,
    community_desk,
    hand_to,
    new_ticket_push,
    open_tickets,
    queue_push,
    record_event,
)
from storage.models import Building, Resident
from storage.register import adopt_register_entry

_NUMBER = r"[0-9零一二两三四五六七八九十]+"
ADDRESS = re.compile(
    rf"^(?:绑定|登记|地址|住址)?[::]?(?:我住|我家住|住在)?(?P<building>{_NUMBER})(?:号楼|号|栋|幢|楼)"
    rf"(?:(?P<unit>{_NUMBER})(?:单元|门))?(?P<room>[0-9]{{3,4}})(?:室|号|房)?$"
)
BIND_COMMAND = re.compile(r"^(?:绑定|登记)")


@dataclass(frozen=True)
class Address:
    """A building, unit and room parsed from what a resident wrote."""

    building: str
    unit: str | None
    room: str


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
    )


def looks_like_binding(normalized: str) -> bool:
    """'绑定 ...' is meant as a binding even when the address is malformed."""
    return bool(BIND_COMMAND.match(normalized))


def handle_binding(
    services: Services, resident: Resident, address: Address | None, message_id: int | None = None
) -> Reply:
    """Bind the resident to a known building and hand their unplaced tickets to its grid."""
    if address is None:
        return Reply(f"请按“绑定 楼号单元房号”的格式回复,例如“绑定 {BIND_EXAMPLE}”。")
    building = services.session.scalar(select(Building).where(Building.name == address.building))
    if building is None:
        return Reply(
            f"没有找到“{address.building}”,请核对楼号后再发一次;也可以回复“人工”,由社区工作人员联系您。"
        )
    resident.building, resident.unit, resident.room = building, address.unit, address.room
    adopted = adopt_register_entry(services.session, resident)
    moved = _hand_over_unplaced(services, resident, message_id)
    worker = building.grid.worker
    lines = [f"登记成功:{resident.address},属于{building.grid.name}。"]
    if adopted:
        lines.append("已和社区台账中的登记信息关联。")
    if worker is not None:
        lines.append(f"您的网格员是{worker.name},电话 {worker.phone or '见小区公告栏'}。")
    if moved:
        lines.append(f"您之前的工单 {'、'.join(f'#{n}' for n in moved)} 已转给网格员跟进。")
    return Reply("\n".join(lines))


def _hand_over_unplaced(services: Services, resident: Resident, message_id: int | None) -> list[int]:
    """Tickets opened before the resident was bound go from the duty desk to their grid."""
    grid = resident.building.grid if resident.building else None
    moved = []
    for ticket in open_tickets(services, resident):
        if ticket.grid is not None:
            continue
        assignment = choose_assignee(community_desk(services), grid)
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
