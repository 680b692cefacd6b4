"""A worker leaving the job: grids, backups and open tickets pass on, and nothing reaches them afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from handlers.context import Services
from handlers.ladder import ladder
from handlers.lifecycle import apply
from handlers.tickets import OPEN_STATUSES, hand_to
from handlers.worker_commands import hand_over
from storage.models import Grid, OutboxMessage, StaffAccount, Ticket, Worker

ACTOR = "社区"


class DepartureError(ValueError):
    """The departure cannot be made as asked; the message says why."""


@dataclass
class Departure:
    """What changed when a worker left, for the office to read."""

    grids: list[str] = field(default_factory=list)
    # Ticket number -> the name of whoever holds it now (None: nobody on duty could take it).
    tickets: dict[int, str | None] = field(default_factory=dict)
    pushes_cancelled: int = 0
    console_closed: bool = False


def serving_worker(session: Session, name: str, role: str | None = None) -> Worker:
    """The one serving worker of that name (and role); DepartureError when none or several."""
    query = select(Worker).where(Worker.name == name, Worker.left_at.is_(None))
    if role is not None:
        query = query.where(Worker.role == role)
    found = list(session.scalars(query.order_by(Worker.id)))
    if not found:
        raise DepartureError(f"no serving worker named {name!r}" + (f" ({role})" if role else ""))
    if len(found) > 1:
        roles = ", ".join(worker.role for worker in found)
        raise DepartureError(f"{len(found)} serving workers are named {name!r} ({roles}); add --role")
    return found[0]


def leave(services: Services, worker: Worker, successor: Worker | None = None) -> Departure:
    """Unbind a departing worker; what they held goes to the successor, else up each ticket's ladder."""
    if successor is not None and (successor.id == worker.id or successor.role != worker.role):
        raise DepartureError(f"the successor must be another {worker.role}, not {successor.name}")
    session = services.session
    departure = Departure(grids=_pass_on_grids(session, worker, successor))
    for colleague in session.scalars(select(Worker).where(Worker.backup_id == worker.id)):
        colleague.backup = successor if successor is not colleague else None
    departure.pushes_cancelled = _cancel_pushes(session, worker)
    departure.console_closed = _close_console(session, worker)
    worker.openid = worker.wecom_userid = worker.backup = None
    worker.on_duty, worker.left_at = False, services.now
    session.flush()
    for ticket in _held_tickets(session, worker):
        departure.tickets[ticket.id] = _pass_on_ticket(services, ticket, worker, successor)
    return departure


def _pass_on_grids(session: Session, worker: Worker, successor: Worker | None) -> list[str]:
    """The grids the worker looked after or led, now the successor's (or nobody's)."""
    query = select(Grid).where(or_(Grid.worker_id == worker.id, Grid.leader_id == worker.id))
    grids = list(session.scalars(query.order_by(Grid.code)))
    for grid in grids:
        if grid.worker_id == worker.id:
            grid.worker = successor
        if grid.leader_id == worker.id:
            grid.leader = successor
    return [grid.code for grid in grids]


def _cancel_pushes(session: Session, worker: Worker) -> int:
    """Pushes still waiting for the worker are not sent: they would carry residents' details."""
    cancel = (
        update(OutboxMessage)
        .where(OutboxMessage.worker_id == worker.id, OutboxMessage.status == "pending")
        .values(status="cancelled", last_error="worker left")
        .execution_options(synchronize_session=False)
    )
    return session.execute(cancel).rowcount


def _close_console(session: Session, worker: Worker) -> bool:
    """Disable the worker's console account, which also ends its sessions; False when there is none."""
    account = session.scalar(select(StaffAccount).where(StaffAccount.worker_id == worker.id))
    if account is None:
        return False
    account.active = False
    return True


def _held_tickets(session: Session, worker: Worker) -> list[Ticket]:
    query = select(Ticket).where(Ticket.assignee_id == worker.id, Ticket.status.in_(OPEN_STATUSES))
    return list(session.scalars(query.order_by(Ticket.id)))


def _pass_on_ticket(
    services: Services, ticket: Ticket, worker: Worker, successor: Worker | None
) -> str | None:
    """Hand one open ticket to the successor, else the first staffed rung at or above where it stands."""
    target = successor or _next_on_ladder(services.session, ticket)
    why = f"{worker.name}离岗,"
    if target is None:
        apply(services, ticket, "reassign", ACTOR, f"{why}暂无在岗人员接手")
        hand_to(services, ticket, None, level=ticket.escalation_level)
        return None
    hand_over(services, ticket, target, ACTOR, why)
    return target.name


def _next_on_ladder(session: Session, ticket: Ticket) -> Worker | None:
    rungs = ladder(session, ticket)
    rung = next((r for r in rungs if r.level >= ticket.escalation_level), rungs[-1] if rungs else None)
    return rung.workers[0] if rung else None
