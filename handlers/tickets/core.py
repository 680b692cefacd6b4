"""The one path every ticket is opened by: assignee, deadlines, audit trail and pushes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from handlers.console_links import with_link
from handlers.context import Services
from handlers.texts import CATEGORY_LABELS, ROLE_LABELS, duration, local_time
from handlers.tickets.ladder import START_LEVELS
from storage.models import Grid, InboundMessage, Resident, Ticket, Worker
from storage.outbox import queue_push
from storage.repositories.staff import serving_by_role
from storage.repositories.tickets import (
    add_ticket_event,
    add_ticket_events,
    insert_ticket,
    open_and_unrated_of,
    open_of,
)

OPEN_STATUSES = ("new", "assigned", "acknowledged", "in_progress", "reopened")
UNSIGNED = ("new", "assigned", "reopened")
SIGNED = ("acknowledged", "in_progress")
UTILITY_REPAIRS = frozenset({"water", "power", "gas", "heating"})
# An "other" ticket whose words carried urgency or distress: a person looks at once
# (handlers/tickets/urgency.py).
POSSIBLE_EMERGENCY = "possible_emergency"


@dataclass(frozen=True)
class Assignment:
    """Who gets a ticket, and why (shown to the worker when it is not the usual one)."""

    worker: Worker | None
    grid: Grid | None
    reason: str


def choose_assignee(duty_desk: list[Worker], grid: Grid | None) -> Assignment:
    """The grid's worker; their backup (AB岗) when off duty; then the leader; else the duty desk.

    The duty desk is the offices, community before street (office_desk). When nobody at all is on duty,
    its first person gets the ticket anyway: a ticket nobody is told about helps nobody.
    """
    if grid is not None:
        if grid.worker is not None and grid.worker.on_duty:
            return Assignment(grid.worker, grid, "grid_worker")
        backup = grid.worker.backup if grid.worker is not None else None
        if backup is not None and backup.on_duty:
            return Assignment(backup, grid, "backup")
        if grid.leader is not None and grid.leader.on_duty:
            return Assignment(grid.leader, grid, "leader")
    duty = next((w for w in duty_desk if w.on_duty), duty_desk[0] if duty_desk else None)
    if duty is None:
        return Assignment(None, grid, "unassigned")
    return Assignment(duty, grid, "street" if duty.role == "street" else "community")


def assign(services: Services, grid: Grid | None) -> Assignment:
    """choose_assignee, asking the database for the duty desk only when nobody in the grid is on duty."""
    in_grid = choose_assignee([], grid)
    return in_grid if in_grid.worker is not None else choose_assignee(office_desk(services.session), grid)


def office_desk(session: Session) -> list[Worker]:
    """The community office's staff, then the street office's: who takes what no grid can."""
    return community_desk(session) + serving_by_role(session, "street")


def community_desk(session: Session) -> list[Worker]:
    """Community duty accounts still serving, the queue for residents not yet bound to a building."""
    return serving_by_role(session, "community")


def deadline_key(category: str, kind: str | None) -> str:
    """Settings key for a ticket's deadlines: utility repairs are due sooner than others."""
    if category == "repair" and kind in UTILITY_REPAIRS:
        return "repair_utility"
    if kind == POSSIBLE_EMERGENCY:
        return POSSIBLE_EMERGENCY
    return category


def open_ticket(
    services: Services,
    resident: Resident,
    category: str,
    summary: str,
    *,
    kind: str | None = None,
    message_id: int | None = None,
    actor: str = "居民",
) -> Ticket:
    """Open, assign and announce a ticket in the caller's transaction."""
    grid = resident.building.grid if resident.building else None
    assignment = assign(services, grid)
    deadline = services.settings.deadline(deadline_key(category, kind))
    row = {
        "category": category,
        "kind": kind,
        "priority": _priority(category, kind),
        "status": "assigned" if assignment.worker else "new",
        "summary": summary[:500],
        "resident_id": resident.id,
        "grid_id": grid.id if grid else None,
        "assignee_id": assignment.worker.id if assignment.worker else None,
        "ack_due_at": services.now + timedelta(minutes=deadline.ack_minutes),
        "resolve_due_at": services.now + timedelta(hours=deadline.resolve_hours),
        "created_at": services.now,
        "updated_at": services.now,
        "escalation_level": START_LEVELS[assignment.reason],
        "last_paged_at": services.now,
    }
    ticket = insert_ticket(services.session, row)
    trail: list[tuple[str, str, str | None]] = [("opened", actor, summary[:200])]
    if assignment.worker is not None:
        trail.append(("assigned", "系统", f"{worker_title(assignment.worker)}({assignment.reason})"))
    add_ticket_events(services.session, ticket.id, trail, services.now)
    _announce(services, ticket, assignment, message_id)
    return ticket


def _priority(category: str, kind: str | None) -> str:
    if category == "emergency" or kind == POSSIBLE_EMERGENCY:
        return "urgent"
    if category == "medicine" or (category == "repair" and kind in UTILITY_REPAIRS):
        return "high"
    return "normal"


def record_event(services: Services, ticket: Ticket, kind: str, actor: str, note: str | None = None) -> None:
    """Append one line to the ticket's audit trail."""
    add_ticket_event(services.session, ticket.id, kind, actor, note, services.now)


def _announce(services: Services, ticket: Ticket, assignment: Assignment, message_id: int | None) -> None:
    text = new_ticket_push(services, ticket, via_backup=assignment.reason == "backup")
    kind = "emergency" if ticket.category == "emergency" else "new_ticket"
    if ticket.kind == POSSIBLE_EMERGENCY:
        kind = "urgent"
    recipients = people_to_page(services.session, ticket)
    console = services.settings.console
    for worker in recipients:
        queue_push(
            services.session,
            services.now,
            worker=worker,
            kind=kind,
            text=with_link(services.session, console, services.now, text, worker, ticket),
            ticket=ticket,
            message_id=message_id,
        )


def people_to_page(session: Session, ticket: Ticket) -> list[Worker]:
    """The holder; for emergencies also the grid leader, and the duty desk when nobody else is there."""
    recipients = [ticket.assignee] if ticket.assignee else []
    if not recipients:
        recipients = community_desk(session)
    if ticket.category == "emergency":
        leader = ticket.grid.leader if ticket.grid else None
        extra = [leader] if leader else community_desk(session)
        recipients += [w for w in extra if w not in recipients]
    return recipients


def new_ticket_push(
    services: Services, ticket: Ticket, *, heading: str = "新工单", via_backup: bool = False
) -> str:
    """The push a worker reads: what, who, where, and by when."""
    resident = ticket.resident
    tz = services.settings.timezone
    label = CATEGORY_LABELS[ticket.category]
    title = "【紧急求助】" if ticket.category == "emergency" else f"【{heading} · {label}】"
    if ticket.kind == POSSIBLE_EMERGENCY:
        title = "【可能紧急 · 请马上联系居民】"
    lines = [
        f"{title} #{ticket.id}",
        f"居民:{resident.name or '未登记姓名'} {resident.phone or ''}".rstrip(),
        f"地址:{resident.address or '未登记住址'}",
        f"内容:{ticket.summary}",
    ]
    if via_backup and ticket.grid and ticket.grid.worker:
        lines.append(f"({ticket.grid.worker.name}不在岗,由您AB岗代办)")
    if ticket.category == "emergency":
        lines.append("请立即联系居民并赶往现场。")
    ack_minutes = math.ceil((ticket.ack_due_at - services.now).total_seconds() / 60)
    lines.append(
        f"请在{duration(ack_minutes)}内签收(回复“签收 {ticket.id}”),"
        f"{local_time(ticket.resolve_due_at, tz)}前办结。"
    )
    return "\n".join(lines)


def hand_to(services: Services, ticket: Ticket, worker: Worker | None, level: int) -> None:
    """Give a ticket to someone new, who gets a fresh window to sign for it."""
    window = services.settings.deadline(deadline_key(ticket.category, ticket.kind)).ack_minutes
    ticket.assignee = worker
    ticket.escalation_level, ticket.repeat_pages = level, 0
    ticket.ack_due_at = services.now + timedelta(minutes=window)
    ticket.last_paged_at, ticket.ack_warned_at, ticket.acknowledged_at = services.now, None, None


def open_tickets(services: Services, resident: Resident) -> list[Ticket]:
    """The resident's tickets that are not finished, newest first."""
    # Without an autoflush: tickets are flushed as they open, and the resident's pending "last heard
    # from" stamp can wait for the next write instead of costing a flush of its own on every message.
    with services.session.no_autoflush:
        return open_of(services.session, resident.id, OPEN_STATUSES)


def open_and_awaiting_rating(services: Services, resident: Resident) -> tuple[list[Ticket], Ticket | None]:
    """open_tickets and the resolved ticket awaiting the resident's rating, in one query."""
    with services.session.no_autoflush:  # as open_tickets
        return open_and_unrated_of(services.session, resident.id, OPEN_STATUSES)


def link_message(services: Services, ticket: Ticket, message_id: int | None, note: str) -> None:
    """File a resident's follow-up message under an open ticket, with a line in its audit trail."""
    message = services.session.get(InboundMessage, message_id) if message_id is not None else None
    if message is not None:
        message.ticket_id = ticket.id
    record_event(services, ticket, "follow_up", "居民", note)
    ticket.updated_at = services.now


def attach_message(services: Services, ticket: Ticket, message_id: int, what: str) -> None:
    """Link a follow-up (photo, location) to an open ticket and tell whoever holds it."""
    link_message(services, ticket, message_id, what)
    holder = ticket.assignee
    if holder is not None:
        text = f"【工单补充 #{ticket.id}】居民{what}。\n原内容:{ticket.summary}"
        queue_push(
            services.session,
            services.now,
            worker=holder,
            kind="follow_up",
            text=with_link(services.session, services.settings.console, services.now, text, holder, ticket),
            ticket=ticket,
            message_id=message_id,
        )


def assignee_phrase(ticket: Ticket, with_phone: bool = False) -> str:
    """'网格员王芳', '网格员王芳(电话 139…)' or '社区值班台': who the resident should expect."""
    worker = ticket.assignee
    if worker is None:
        return "社区值班人员"
    phrase = worker_title(worker)
    return f"{phrase}(电话 {worker.phone})" if with_phone and worker.phone else phrase


def worker_title(worker: Worker) -> str:
    """'网格员王芳', '网格长赵建国'; desks such as 社区值班台 go by their own name."""
    role = ROLE_LABELS.get(worker.role, "") if worker.role in ("worker", "leader") else ""
    return f"{role}{worker.name}"
