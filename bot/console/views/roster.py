"""The staff page (人员): who looks after each grid (bringing a new worker in and a worker leaving are
staff_invites.py and staff_departures.py).

Offices (community, street) see every grid, a leader the grids they lead, read-only; a worker has no such
page. Only the community office acts, through the same domain functions as the command line: an invite
(`run.py worker invite`), whose one-time code is shown once, and a departure (`run.py worker leave`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, g
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bot.console.pages import Staff, console, page, staff
from bot.console.scope import OFFICES, visible_grids
from bot.console.views.board import overdue_condition
from handlers.language.privacy import mask_phone
from handlers.texts import ROLE_LABELS
from handlers.tickets.core import OPEN_STATUSES
from storage.db import transaction
from storage.models import (
    AuditEvent,
    ConsoleSession,
    Grid,
    InboundMessage,
    StaffAccount,
    Ticket,
    Worker,
    WorkerInvite,
)

log = logging.getLogger(__name__)

# Who may see the page: the offices every grid, a leader their own.
READERS = (*OFFICES, "leader")
ACTOR_ROLE = "community"
BOUND, UNBOUND = "已绑定微信", "未绑定"


def register(blueprint: Blueprint) -> None:
    """Add the staff page's routes."""
    blueprint.add_url_rule("/staff", "staff", roster)
    blueprint.app_template_global("staff_tab")(staff_tab)


def staff_tab() -> bool:
    """Whether the signed-in person's navigation shows the staff page."""
    me = g.get("staff")
    return me is not None and me.role in READERS


def reader() -> Staff:
    """The signed-in person if they may see the page; a worker is told it is not found."""
    me = staff()
    if me.role not in READERS:
        abort(404)
    return me


def actor() -> Staff:
    """The signed-in person if they may bring people in or record them leaving (the community office)."""
    me = reader()
    if me.role != ACTOR_ROLE:
        abort(403)
    return me


# The page


@dataclass(frozen=True)
class Person:
    """One person of a grid as the page shows them: phone masked, WeChat bound or not, their load."""

    worker_id: int
    name: str
    role: str
    phone: str
    bound: bool
    open: int
    overdue: int
    last_active: datetime | None

    @property
    def binding(self) -> str:
        """'已绑定微信' or '未绑定'."""
        return BOUND if self.bound else UNBOUND


@dataclass(frozen=True)
class GridRow:
    """One grid: its worker (网格员), their backup (AB岗) and its leader (网格长); None where nobody is."""

    code: str
    name: str
    worker: Person | None
    backup: Person | None
    leader: Person | None


def roster() -> str:
    """Every grid in the person's view with who looks after it, and invites waiting to be bound."""
    me, app = reader(), console()
    now = app.clock()
    with transaction(app.factory) as db:
        grids = _grids(db, me)
        return page(
            "staff.html",
            rows=_rows(db, grids, now),
            waiting=_waiting_invites(db, now) if me.scope.everything else [],
            grid_names={grid.code: grid.name for grid in grids},
            may_act=me.role == ACTOR_ROLE,
            me_id=me.worker_id,
            roles=ROLE_LABELS,
        )


def _grids(db: Session, me: Staff) -> list[Grid]:
    """The grids in view, their people loaded."""
    grids = visible_grids(db, me.scope)
    ids = [grid.id for grid in grids]
    query = select(Grid).where(Grid.id.in_(ids)).order_by(Grid.code)
    loads = (selectinload(Grid.worker).selectinload(Worker.backup), selectinload(Grid.leader))
    return list(db.scalars(query.options(*loads)))


def _rows(db: Session, grids: list[Grid], now: datetime) -> list[GridRow]:
    """The page's rows; people who left are not shown."""
    serving = [
        person
        for grid in grids
        for person in (grid.worker, grid.worker.backup if grid.worker else None, grid.leader)
        if person is not None and person.left_at is None
    ]
    people = _people(db, {person.id: person for person in serving}, now)
    rows = []
    for grid in grids:
        worker = people.get(grid.worker_id) if grid.worker_id else None
        backup_id = grid.worker.backup_id if grid.worker is not None and worker is not None else None
        backup = people.get(backup_id) if backup_id else None
        leader = people.get(grid.leader_id) if grid.leader_id else None
        rows.append(GridRow(grid.code, grid.name, worker, backup, leader))
    return rows


def _people(db: Session, workers: dict[int, Worker], now: datetime) -> dict[int, Person]:
    """Each worker as a Person: open and overdue tickets, last message or console sign-in."""
    ids = list(workers)
    open_query = select(Ticket.assignee_id, func.count()).where(
        Ticket.assignee_id.in_(ids), Ticket.status.in_(OPEN_STATUSES)
    )
    held = dict(db.execute(open_query.group_by(Ticket.assignee_id)).all())
    late = dict(db.execute(open_query.where(overdue_condition(now)).group_by(Ticket.assignee_id)).all())
    active = _last_active(db, workers)
    return {
        worker.id: Person(
            worker_id=worker.id,
            name=worker.name,
            role=worker.role,
            phone=mask_phone(worker.phone) if worker.phone else "",
            bound=worker.openid is not None,
            open=held.get(worker.id, 0),
            overdue=late.get(worker.id, 0),
            last_active=active.get(worker.id),
        )
        for worker in workers.values()
    }


def _last_active(db: Session, workers: dict[int, Worker]) -> dict[int, datetime]:
    """When each worker last wrote to the Official Account or signed in to the console, the later."""
    by_openid = {worker.openid: worker.id for worker in workers.values() if worker.openid}
    moments: list[tuple[int, datetime | None]] = []
    messages = (
        select(InboundMessage.openid, func.max(InboundMessage.received_at))
        .where(InboundMessage.openid.in_(list(by_openid)))
        .group_by(InboundMessage.openid)
    )
    moments += [(by_openid[openid], at) for openid, at in db.execute(messages)]
    signins = select(StaffAccount.worker_id, StaffAccount.last_signin_at).where(
        StaffAccount.worker_id.in_(list(workers))
    )
    moments += list(db.execute(signins).all())
    # Push links open sessions without a password sign-in.
    sessions = (
        select(ConsoleSession.worker_id, func.max(ConsoleSession.created_at))
        .where(ConsoleSession.worker_id.in_(list(workers)))
        .group_by(ConsoleSession.worker_id)
    )
    moments += list(db.execute(sessions).all())
    latest: dict[int, datetime] = {}
    for worker_id, at in moments:
        if at is not None and (worker_id not in latest or at > latest[worker_id]):
            latest[worker_id] = at
    return latest


def _waiting_invites(db: Session, now: datetime) -> list[WorkerInvite]:
    """Invites still waiting for their "绑定" message, newest first."""
    query = select(WorkerInvite).where(WorkerInvite.used_at.is_(None), WorkerInvite.expires_at > now)
    return list(db.scalars(query.order_by(WorkerInvite.created_at.desc(), WorkerInvite.id.desc())))


# Shared with the invite and departure views


def audit(db: Session, now: datetime, me: Staff, action: str, subject: str, detail: str) -> None:
    """Who in the console did it, to which row, by ids only."""
    event = AuditEvent(action=action, actor=f"console worker #{me.worker_id}", subject=subject, detail=detail)
    event.created_at = now
    db.add(event)
