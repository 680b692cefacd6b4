"""The ticket state machine: every transition is checked here and written to the audit trail."""

from __future__ import annotations

from handlers.console_links import with_link
from handlers.context import Services
from handlers.register.entries import is_open311_requester
from handlers.texts import STATUS_LABELS
from handlers.tickets.core import OPEN_STATUSES, record_event
from handlers.tickets.outcome import Told
from storage.erasure import is_forgotten_openid
from storage.models import Ticket, Worker
from storage.outbox import queue_push

WORKING = frozenset({"assigned", "acknowledged", "in_progress", "reopened"})

# action -> (states it may start from, state it leads to; None keeps the state)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "acknowledge": (frozenset({"new", "assigned", "reopened"}), "acknowledged"),
    "progress": (WORKING, "in_progress"),
    "resolve": (WORKING, "resolved"),
    "send_back": (WORKING, "assigned"),
    "reassign": (frozenset(OPEN_STATUSES), "assigned"),
    "extend": (WORKING, None),
    "escalate": (frozenset({"new", "assigned", "reopened"}), None),
    "cancel": (frozenset(OPEN_STATUSES), "cancelled"),
    "reopen": (frozenset({"resolved"}), "reopened"),
    "close": (frozenset({"resolved"}), "closed"),
    # The same problem as another open ticket: it is handled there (handlers/tickets/actions.py).
    "duplicate": (frozenset(OPEN_STATUSES), "cancelled"),
}

ACTION_LABELS = {
    "acknowledge": "签收",
    "progress": "更新进度",
    "resolve": "办结",
    "send_back": "退单",
    "reassign": "转派",
    "extend": "延期",
    "escalate": "升级",
    "cancel": "取消",
    "reopen": "重新办理",
    "close": "关闭",
    "duplicate": "合并为重复工单",
}

# Doing the work implies having signed for it.
_IMPLIES_ACK = frozenset({"acknowledge", "progress", "resolve"})


class TransitionError(Exception):
    """A transition the state machine refuses; the message is the Chinese reply for the person."""


def apply(services: Services, ticket: Ticket, action: str, actor: str, note: str | None = None) -> None:
    """Move a ticket by one action, stamping its times and recording who did it."""
    allowed, target = TRANSITIONS[action]
    if ticket.status not in allowed:
        raise TransitionError(refusal(ticket, action))
    now = services.now
    if target is not None:
        ticket.status = target
    if action in _IMPLIES_ACK and ticket.acknowledged_at is None:
        ticket.acknowledged_at = now
    if action == "resolve":
        ticket.resolved_at = now
    if action in ("close", "cancel", "duplicate"):
        ticket.closed_at = now
    ticket.updated_at = now
    record_event(services, ticket, action, actor, note)


def refusal(ticket: Ticket, action: str) -> str:
    """Why an action is not possible in the ticket's current state."""
    state = STATUS_LABELS[ticket.status]
    return f"工单 #{ticket.id} 当前状态是“{state}”,不能{ACTION_LABELS[action]}。"


def may_act(worker: Worker, ticket: Ticket) -> bool:
    """Workers act on their own grid's tickets and what they hold; leaders on their grids; offices on all."""
    if worker.role in ("community", "street"):
        return True
    if ticket.assignee_id == worker.id:
        return True
    grid = ticket.grid
    return grid is not None and worker.id in (grid.worker_id, grid.leader_id)


def tell_resident(services: Services, ticket: Ticket, text: str, kind: str = "status") -> Told | None:
    """Queue a status update for the ticket's resident (not Open311 requesters, not the forgotten)."""
    openid = ticket.resident.openid
    if is_open311_requester(openid) or is_forgotten_openid(openid):
        return None
    queue_push(
        services.session,
        services.now,
        resident=ticket.resident,
        kind=kind,
        text=text,
        ticket=ticket,
        message_id=services.message_id,
    )
    return Told(kind)


def tell_worker(
    services: Services, worker: Worker | None, ticket: Ticket, text: str, kind: str
) -> Told | None:
    """Queue a push to one worker, if there is one, with a console link to the ticket when set up."""
    if worker is None:
        return None
    queue_push(
        services.session,
        services.now,
        worker=worker,
        kind=kind,
        text=with_link(services.session, services.settings.console, services.now, text, worker, ticket),
        ticket=ticket,
        message_id=services.message_id,
    )
    return Told(kind, worker)
