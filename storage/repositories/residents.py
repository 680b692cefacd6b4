"""Queries about residents: finding one by openid (locked), by id (locked), ids by condition, or households by
address."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache

from sqlalchemy import ColumnElement, Select, Update, bindparam, or_, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from storage.models import Building, Grid, Resident, Worker


def locked_by_openid(session: Session, openid: str) -> Resident | None:
    """The resident with this openid, with their building, grid and grid worker, row locked FOR NO KEY
    UPDATE until the transaction ends (handlers/people/residents.py says why)."""
    return session.scalar(_locked_by_openid(), {"openid": openid})


@cache
def _locked_by_openid() -> Select[tuple[Resident]]:
    """Built once: every resident message asks it. Most messages open a ticket for the grid's worker:
    that path comes with the resident, in one query."""
    return (
        select(Resident)
        .where(Resident.openid == bindparam("openid"))
        .options(joinedload(Resident.building).joinedload(Building.grid).joinedload(Grid.worker))
        .with_for_update(of=Resident, key_share=True)
    )


def mark_heard_from(session: Session, resident: Resident, now: datetime) -> None:
    """Stamp the resident as just heard from (and following the account), in one UPDATE built once;
    the object shows the stamp without being left for the unit of work to flush."""
    session.connection().execute(_heard_from(), {"resident_id": resident.id, "now": now})
    set_committed_value(resident, "last_message_at", now)
    set_committed_value(resident, "subscribed", True)


@cache
def _heard_from() -> Update:
    table = Resident.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("resident_id"))
        .values(last_message_at=bindparam("now"), subscribed=True)
    )


def locked_by_id(session: Session, resident_id: int) -> Resident:
    """The resident with this id, row locked FOR UPDATE (PostgreSQL) until the transaction ends."""
    return session.scalars(select(Resident).where(Resident.id == resident_id).with_for_update()).one()


def ids_where(session: Session, conditions: Sequence[ColumnElement[bool]]) -> list[int]:
    """The ids of the residents meeting every condition, in order."""
    return list(session.scalars(select(Resident.id).where(*conditions).order_by(Resident.id)))


def households(
    session: Session,
    worker: Worker,
    *,
    all_buildings: bool,
    building: str | None = None,
    unit: str | None = None,
    room: str | None = None,
    name: str | None = None,
) -> list[Resident]:
    """Residents in the worker's grids (every building with all_buildings) by building and room (and
    unit), by room alone, or else by name; by id."""
    query = select(Resident).join(Building).where(_in_scope(worker, all_buildings))
    if building is not None:
        query = query.where(Building.name == building, Resident.room == room)
        if unit:
            query = query.where(Resident.unit == unit)
    elif room is not None:
        query = query.where(Resident.room == room)
    else:
        query = query.where(Resident.name == name)
    return list(session.scalars(query.order_by(Resident.id)))


def _in_scope(worker: Worker, all_buildings: bool) -> ColumnElement[bool]:
    """Buildings of the grids this worker or leader looks after; every building with all_buildings."""
    if all_buildings:
        return Building.id.is_not(None)
    grids = select(Grid.id).where(or_(Grid.worker_id == worker.id, Grid.leader_id == worker.id))
    return Building.grid_id.in_(grids)
