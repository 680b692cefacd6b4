"""Read-only views of tickets and the outbox for the command line."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.models import Grid, InboundMessage, OutboxMessage, Ticket, Worker


def ticket_rows(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    """Newest tickets first, as plain dicts."""
    query = (
        select(Ticket)
        .options(selectinload(Ticket.resident), selectinload(Ticket.assignee))
        .order_by(Ticket.id.desc())
        .limit(limit)
    )
    return [
        {
            "number": ticket.id,
            "category": ticket.category,
            "kind": ticket.kind,
            "priority": ticket.priority,
            "status": ticket.status,
            "resident": ticket.resident.openid,
            "assignee": ticket.assignee.name if ticket.assignee else None,
            "summary": ticket.summary,
            "created": ticket.created_at.isoformat(),
            "ack_due": ticket.ack_due_at.isoformat(),
        }
        for ticket in session.scalars(query)
    ]


def outbox_rows(session: Session, limit: int = 200, message_id: int | None = None) -> list[dict[str, Any]]:
    """Newest pushes first (or those one inbound message caused), as plain dicts."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if message_id is not None:
        query = query.where(OutboxMessage.message_id == message_id)
    return [
        {
            "id": row.id,
            "recipient": row.recipient,
            "recipient_name": row.recipient_name,
            "channel": row.channel,
            "kind": row.kind,
            "status": row.status,
            "attempts": row.attempts,
            "ticket": row.ticket_id,
            "text": row.text,
            "created": row.created_at.isoformat(),
        }
        for row in session.scalars(query)
    ]


def staff(session: Session) -> list[dict[str, Any]]:
    """Every worker, leader and office account with their grids and backup."""
    grids = list(session.scalars(select(Grid).order_by(Grid.code)))
    rows = []
    for worker in session.scalars(select(Worker).order_by(Worker.id)):
        rows.append(
            {
                "name": worker.name,
                "role": worker.role,
                "grids": [g.code for g in grids if worker.id in (g.worker_id, g.leader_id)],
                "backup": worker.backup.name if worker.backup else None,
                "on_duty": worker.on_duty,
                "bound": worker.openid is not None,
                "left": worker.left_at is not None,
            }
        )
    return rows


def message_id_for(session: Session, dedup_key: str) -> int | None:
    """The stored id of an inbound message, by its de-duplication key."""
    return session.scalar(select(InboundMessage.id).where(InboundMessage.dedup_key == dedup_key))
