"""Read-only views of tickets and the outbox for the command line."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Grid, InboundMessage, Worker


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
