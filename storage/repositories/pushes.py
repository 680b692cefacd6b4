"""Queries about pushes in the outbox (the write of a new push is storage/outbox.py:queue_push)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import OutboxMessage, Worker


def template_push(session: Session, wechat_msgid: str) -> OutboxMessage | None:
    """The template push WeChat numbered with this MsgID."""
    query = select(OutboxMessage).where(
        OutboxMessage.wechat_msgid == wechat_msgid, OutboxMessage.channel == "template"
    )
    return session.scalar(query)


def readdress_pending(
    session: Session, worker_id: int, old_recipient: str | None, new_recipient: str
) -> None:
    """Pending pushes for a worker's old WeChat go to the new one instead."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.worker_id == worker_id, OutboxMessage.status == "pending")
        .where(OutboxMessage.recipient == old_recipient)
        .values(recipient=new_recipient)
        .execution_options(synchronize_session=False)
    )


def cancel_pending(session: Session, worker_id: int, reason: str) -> int:
    """Cancel the pushes still waiting for a worker; how many there were."""
    cancel = (
        update(OutboxMessage)
        .where(OutboxMessage.worker_id == worker_id, OutboxMessage.status == "pending")
        .values(status="cancelled", last_error=reason)
        .execution_options(synchronize_session=False)
    )
    return session.execute(cancel).rowcount


def kinds_sent_since(
    session: Session, kinds: Collection[str], since: datetime
) -> list[tuple[str, int | None]]:
    """(kind, worker id) of every push of these kinds made since then."""
    query = select(OutboxMessage.kind, OutboxMessage.worker_id).where(
        OutboxMessage.kind.in_(kinds), OutboxMessage.created_at >= since
    )
    return [(kind, worker_id) for kind, worker_id in session.execute(query)]


def of_ticket(session: Session, ticket_id: int) -> list[OutboxMessage]:
    """The pushes queued about a ticket so far."""
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket_id)))


def recipients_of(session: Session, ticket_id: int, kind: str) -> list[tuple[str, str]]:
    """(recipient, name) of each push of this kind about the ticket, once each, by recipient."""
    query = (
        select(OutboxMessage.recipient, OutboxMessage.recipient_name)
        .where(OutboxMessage.ticket_id == ticket_id, OutboxMessage.kind == kind)
        .distinct()
        .order_by(OutboxMessage.recipient)
    )
    return [(recipient, name) for recipient, name in session.execute(query)]


def workers_pushed_about(session: Session, ticket_id: int) -> list[Worker]:
    """The workers pushed about this ticket so far, by id."""
    paged = select(OutboxMessage.worker_id).where(
        OutboxMessage.ticket_id == ticket_id, OutboxMessage.worker_id.is_not(None)
    )
    return list(session.scalars(select(Worker).where(Worker.id.in_(paged)).order_by(Worker.id)))
