"""A worker leaving the job: grids, backups and open tickets pass on, and nothing reaches them afterwards."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from handlers.context import Services
from handlers.texts import ROLE_LABELS
from handlers.tickets.actions import hand_over
from handlers.tickets.core import OPEN_STATUSES, UNSIGNED, hand_to
from handlers.tickets.ladder import ladder
from handlers.tickets.lifecycle import apply
from storage.models import AuditEvent, Grid, Ticket, Worker
from storage.outbox import queue_push
from storage.repositories import pushes, staff
from storage.repositories import tickets as ticket_queries

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
    found = staff.serving_named(session, name, role)
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
    for colleague in staff.backed_up_by(session, worker.id):
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
    grids = staff.grids_of(session, worker.id)
    for grid in grids:
        if grid.worker_id == worker.id:
            grid.worker = successor
        if grid.leader_id == worker.id:
            grid.leader = successor
    return [grid.code for grid in grids]


def _cancel_pushes(session: Session, worker: Worker) -> int:
    """Pushes still waiting for the worker are not sent: they would carry residents' details."""
    return pushes.cancel_pending(session, worker.id, "worker left")


def _close_console(session: Session, worker: Worker) -> bool:
    """Disable the worker's console account, which also ends its sessions; False when there is none."""
    account = staff.console_account(session, worker.id)
    if account is None:
        return False
    account.active = False
    return True


def _held_tickets(session: Session, worker: Worker) -> list[Ticket]:
    return ticket_queries.held_by(session, worker.id, OPEN_STATUSES)


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


def take_over(services: Services, grid: Grid, previous: Worker, newcomer: Worker) -> list[str]:
    """The newcomer now holds the grid (worker or leader) instead of `previous`; lines for their reply.

    Unsigned tickets `previous` held in the grid follow the grid to the newcomer (nobody had started on
    them); signed ones stay with whoever signed, who has already told the resident they are coming.
    The person replaced and the grid's leader (for a new leader, its worker) are told by push.
    """
    held = ticket_queries.held_in_grid(services.session, grid.id, previous.id, OPEN_STATUSES)
    moved = [ticket for ticket in held if ticket.status in UNSIGNED]
    kept = [ticket for ticket in held if ticket.status not in UNSIGNED]
    role = ROLE_LABELS[newcomer.role]
    for ticket in moved:
        why = f"{grid.name}{role}由{newcomer.name}接替{previous.name},"
        hand_over(services, ticket, newcomer, ACTOR, why)
    _tell_replaced(services, grid, previous, newcomer, moved, kept)
    other = grid.leader if newcomer.role == "worker" else grid.worker
    if other is not None and other.id not in (previous.id, newcomer.id):
        phone = f"(电话 {newcomer.phone})" if newcomer.phone else ""
        text = f"{grid.name}的{role}已由{previous.name}换为{newcomer.name}{phone},特此告知。"
        queue_push(services.session, services.now, worker=other, kind="staff_change", text=text)
    detail = f"{newcomer.role}: worker #{previous.id} -> worker #{newcomer.id}; tickets moved {len(moved)}"
    audit = AuditEvent(action="grid_takeover", actor=ACTOR, subject=f"grid {grid.code}", detail=detail)
    audit.created_at = services.now
    services.session.add(audit)
    handed = f"{previous.name}未签收的工单 {_numbers(moved)} 已转给您,请尽快签收。" if moved else ""
    return [f"您接替{previous.name}负责{grid.name}。{handed}"]


def _tell_replaced(
    services: Services,
    grid: Grid,
    previous: Worker,
    newcomer: Worker,
    moved: list[Ticket],
    kept: list[Ticket],
) -> None:
    """One short push to the person replaced: who took over, and which of their tickets went or stay."""
    role = ROLE_LABELS[newcomer.role]
    lines = [f"您好,{grid.name}的{role}已改由{newcomer.name}担任,今后该网格的工单不再派给您。"]
    if moved:
        lines.append(f"您未签收的工单 {_numbers(moved)} 已转给{newcomer.name}。")
    if kept:
        lines.append(f"您已签收的工单 {_numbers(kept)} 仍请您办结。")
    lines.append("感谢您的付出!")
    queue_push(services.session, services.now, worker=previous, kind="staff_change", text="".join(lines))


def _numbers(tickets: list[Ticket]) -> str:
    return "、".join(f"#{ticket.id}" for ticket in tickets)
