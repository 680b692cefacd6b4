"""Finding a household from what a worker typed: an address, a room number or a name, in their grids."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from handlers.language.normalize import normalize
from handlers.messages.binding import parse_address
from storage.models import Building, Grid, Resident, Worker

# Households listed when what was typed matches several.
LISTED = 5


def one_household(session: Session, worker: Worker, target: str, example: str) -> Resident | str:
    """The one household `target` names in the worker's grids, or what to tell the worker instead."""
    matches = households_matching(session, worker, target)
    if not matches:
        return f"在您负责的网格里没有找到“{target}”,请写完整地址,例如“{example}”。"
    if len(matches) > 1:
        listed = "\n".join(f"{r.name or '未登记姓名'} {r.address}" for r in matches[:LISTED])
        return f"“{target}”对应多户,请写完整地址:\n{listed}"
    return matches[0]


def households_matching(session: Session, worker: Worker, target: str) -> list[Resident]:
    """Residents in the worker's grids matching an address, a room number or a name."""
    query = select(Resident).join(Building).where(_in_scope(worker))
    text = normalize(target)
    address = parse_address(text)
    if address is not None:
        query = query.where(Building.name == address.building, Resident.room == address.room)
        if address.unit:
            query = query.where(Resident.unit == address.unit)
    elif text.isdigit():
        query = query.where(Resident.room == text)
    else:
        query = query.where(Resident.name == target.strip())
    return list(session.scalars(query.order_by(Resident.id)))


def _in_scope(worker: Worker) -> ColumnElement[bool]:
    """Buildings of the grids this worker or leader looks after; offices see every building."""
    if worker.role in ("community", "street"):
        return Building.id.is_not(None)
    grids = select(Grid.id).where(or_(Grid.worker_id == worker.id, Grid.leader_id == worker.id))
    return Building.grid_id.in_(grids)
