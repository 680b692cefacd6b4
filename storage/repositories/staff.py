"""Queries about staff: workers, the grids they hold, their invites and console accounts."""

from __future__ import annotations

from collections.abc import Collection
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session

from storage.models import Grid, StaffAccount, Worker, WorkerInvite


def serving_by_role(session: Session, role: str) -> list[Worker]:
    """Every serving (not departed) worker of a role, by id."""
    query = select(Worker).where(Worker.role == role, Worker.left_at.is_(None)).order_by(Worker.id)
    return list(session.scalars(query))


def leaders_of_grids_worked_by(session: Session, worker_id: int) -> list[Worker]:
    """The leaders of the grids a worker looks after."""
    leaders = select(Worker).join(Grid, Grid.leader_id == Worker.id).where(Grid.worker_id == worker_id)
    return list(session.scalars(leaders))


def serving_named(session: Session, name: str, role: str | None = None) -> list[Worker]:
    """The serving workers of that name (and role), by id."""
    query = select(Worker).where(Worker.name == name, Worker.left_at.is_(None))
    if role is not None:
        query = query.where(Worker.role == role)
    return list(session.scalars(query.order_by(Worker.id)))


def serving_by_name_or_openid(session: Session, name_or_openid: str) -> Worker | None:
    """The first serving worker with that name or openid."""
    query = select(Worker).where(
        (Worker.name == name_or_openid) | (Worker.openid == name_or_openid), Worker.left_at.is_(None)
    )
    return session.scalars(query.order_by(Worker.id)).first()


def bound_worker(session: Session, name: str, role: str) -> Worker | None:
    """The first serving worker of this name and role whose WeChat is bound."""
    query = select(Worker).where(
        Worker.name == name, Worker.role == role, Worker.openid.is_not(None), Worker.left_at.is_(None)
    )
    return session.scalars(query.order_by(Worker.id)).first()


def unbound_worker(session: Session, name: str, role: str) -> Worker | None:
    """A serving register entry of this name and role with no WeChat bound."""
    query = select(Worker).where(
        Worker.name == name,
        Worker.role == role,
        Worker.openid.is_(None),
        Worker.left_at.is_(None),
    )
    return session.scalars(query).first()


def worker_by_openid(session: Session, openid: str) -> Worker | None:
    """The worker bound to this WeChat openid."""
    return session.scalar(select(Worker).where(Worker.openid == openid))


def backed_up_by(session: Session, worker_id: int) -> list[Worker]:
    """The workers whose AB岗 backup this worker is."""
    return list(session.scalars(select(Worker).where(Worker.backup_id == worker_id)))


def grid_id(session: Session, code: str) -> int | None:
    """The id of the grid with this code."""
    return session.scalar(select(Grid.id).where(Grid.code == code))


def grids_by_code(session: Session, codes: Collection[str]) -> list[Grid]:
    """The grids with these codes, by code."""
    query = select(Grid).where(Grid.code.in_(codes)).order_by(Grid.code)
    return list(session.scalars(query))


def grids_with_codes(session: Session, codes: Collection[str]) -> list[Grid]:
    """The grids with these codes, in no particular order."""
    return list(session.scalars(select(Grid).where(Grid.code.in_(codes))))


def grids_of(session: Session, worker_id: int) -> list[Grid]:
    """The grids a worker looks after or leads, by code."""
    query = select(Grid).where(or_(Grid.worker_id == worker_id, Grid.leader_id == worker_id))
    return list(session.scalars(query.order_by(Grid.code)))


def invite_known(session: Session, code_hash: str) -> bool:
    """Whether an invite already has a code with this hash."""
    return session.scalar(select(WorkerInvite.id).where(WorkerInvite.code_hash == code_hash)) is not None


def invite_by_hash(session: Session, code_hash: str) -> WorkerInvite | None:
    """The invite whose code has this hash."""
    return session.scalar(select(WorkerInvite).where(WorkerInvite.code_hash == code_hash))


def console_account(session: Session, worker_id: int) -> StaffAccount | None:
    """The console account of a worker, if any."""
    return session.scalar(select(StaffAccount).where(StaffAccount.worker_id == worker_id))


def worker_id_by_openid(session: Session, openid: str) -> int | None:
    """The id of the worker bound to this WeChat openid."""
    return session.scalar(select(Worker.id).where(Worker.openid == openid))


def worker_id_for(session: Session, openid: str) -> int | None:
    """The id of the worker bound to this openid, if any: one column, without a flush or an object."""
    return session.connection().scalar(_worker_by_openid(), {"openid": openid})


@cache
def _worker_by_openid() -> Select[Any]:
    """Built once: every message asks whether its sender is a worker, and nearly always they are not."""
    return select(Worker.__table__.c.id).where(Worker.__table__.c.openid == bindparam("openid"))


def grid_by_code(session: Session, code: str) -> Grid | None:
    """The grid with this code."""
    return session.scalar(select(Grid).where(Grid.code == code))


def all_grid_ids(session: Session) -> tuple[int, ...]:
    """Every grid's id, in order."""
    return tuple(session.scalars(select(Grid.id).order_by(Grid.id)))


def all_grids(session: Session) -> list[Grid]:
    """Every grid, by code."""
    return list(session.scalars(select(Grid).order_by(Grid.code)))
