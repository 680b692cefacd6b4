"""How a push ends when it cannot be delivered, who is told, and WeChat's late word on template messages."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from handlers.tickets.core import community_desk
from storage.models import OutboxMessage, Resident, Ticket, Worker
from storage.outbox import queue_push
from storage.repositories import pushes, staff

log = logging.getLogger(__name__)

# A person must hear when one of these never reached its recipient.
ALERT_KINDS = ("emergency", "escalation")
# Not in ALERT_KINDS: an alert that fails is logged, never alerted about again.
ALERT_KIND = "delivery_failed"
KIND_LABELS = {"emergency": "紧急求助", "escalation": "工单升级"}
TEMPLATE_SUCCESS = "success"


class TemplateEvent(Protocol):
    """What TEMPLATESENDJOBFINISH carries, as the webhook read it (handlers.context.TemplateReceipt)."""

    id: int | str
    status: str


def give_up(
    session: Session,
    row: OutboxMessage,
    status: str,
    error: str,
    now: datetime,
    *,
    unsubscribed: bool = False,
) -> int | None:
    """Close a push as dead or undeliverable; returns the outbox id of the alert owed to a person, if any."""
    row.status, row.last_error, row.lease_until = status, error[:500], None
    if unsubscribed and row.resident_id is not None:
        resident = session.get(Resident, row.resident_id)
        if resident is not None:
            resident.subscribed = False
    log.error("push %s is %s after %s tries: %s", row.id, status, row.attempts, error)
    return alert_someone(session, row, now) if row.kind in ALERT_KINDS else None


def alert_someone(session: Session, row: OutboxMessage, now: datetime) -> int | None:
    """Queue a push telling the grid leader (or the duty desk) that an urgent push did not arrive; its id."""
    failed = session.get(Worker, row.worker_id) if row.worker_id is not None else None
    target = alert_target(session, row, failed)
    if target is None:
        log.error("push %s failed and there is nobody else to tell", row.id)
        return None
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
    text = alert_text(row, failed)
    return queue_push(session, now, kind=ALERT_KIND, text=text, worker=target, ticket=ticket)


def alert_target(session: Session, row: OutboxMessage, failed: Worker | None) -> Worker | None:
    """The ticket's grid leader, else the failed worker's leader, else the duty desk; never the recipient."""
    candidates: list[Worker] = []
    ticket = session.get(Ticket, row.ticket_id) if row.ticket_id is not None else None
    if ticket is not None and ticket.grid is not None and ticket.grid.leader is not None:
        candidates.append(ticket.grid.leader)
    if failed is not None:
        candidates.extend(staff.leaders_of_grids_worked_by(session, failed.id))
    candidates.extend(community_desk(session))
    return next((w for w in candidates if failed is None or w.id != failed.id), None)


def alert_text(row: OutboxMessage, failed: Worker | None) -> str:
    """What the leader reads: who missed which push, why, and the push itself."""
    label = KIND_LABELS.get(row.kind, row.kind)
    phone = f"({failed.phone})" if failed is not None and failed.phone else ""
    ticket = f"工单 #{row.ticket_id} 的" if row.ticket_id is not None else ""
    return (
        f"【推送失败】{row.recipient_name}{phone}没有收到{ticket}{label}推送"
        f"(试了{row.attempts}次:{(row.last_error or '')[:80]})。请电话联系,确保有人处理。\n"
        f"原推送:\n{row.text}"
    )


def record_template_result(
    session: Session, event: TemplateEvent, now: datetime, max_attempts: int = 6
) -> OutboxMessage | None:
    """Apply TEMPLATESENDJOBFINISH to the push with that MsgID; returns the row, or None if unknown."""
    row = pushes.template_push(session, str(event.id))
    if row is None:
        return None
    status = (event.status or "").strip()
    if row.status != "sent" or row.receipt is not None:
        return row  # WeChat repeats events; the first one settled it.
    row.receipt = status[:40]
    if status == TEMPLATE_SUCCESS:
        return row
    if "block" in status:
        # The user refused this account's template messages; they may still talk to us.
        give_up(session, row, "undeliverable", f"template {status}", now)
    elif row.attempts >= max_attempts:
        give_up(session, row, "dead", f"template {status}", now)
    else:
        row.status, row.next_attempt_at, row.last_error = "pending", now, f"template {status}"
        row.sent_at = row.lease_until = row.receipt = None
    return row
