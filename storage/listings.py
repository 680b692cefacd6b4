"""The tickets and outbox listings in SQLAlchemy Core: `run.py tickets` and `outbox` read these without
loading the ORM or the mapped models (a third of such a command's start-up), and `say` shows its pushes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, text

TICKETS = text(
    "SELECT t.id AS number, t.category, t.kind, t.priority, t.status, r.openid AS resident,"
    " w.name AS assignee, t.summary, t.created_at AS created, t.ack_due_at AS ack_due"
    " FROM tickets t JOIN residents r ON r.id = t.resident_id LEFT JOIN workers w ON w.id = t.assignee_id"
    " ORDER BY t.id DESC LIMIT :limit"
).columns(created=DateTime(), ack_due=DateTime())

PUSHES = (
    "SELECT id, recipient, recipient_name, channel, kind, status, attempts, ticket_id AS ticket, text,"
    " created_at AS created FROM outbox {where} ORDER BY id DESC LIMIT :limit"
)


def ticket_rows(connection: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """Newest tickets first, as plain dicts (times as ISO text in UTC)."""
    return [_with_utc_times(row._asdict()) for row in connection.execute(TICKETS, {"limit": limit})]


def outbox_rows(
    connection: Connection, limit: int = 200, message_id: int | None = None
) -> list[dict[str, Any]]:
    """Newest pushes first (or those one inbound message caused), as plain dicts."""
    where = "WHERE message_id = :message_id" if message_id is not None else ""
    query = text(PUSHES.format(where=where)).columns(created=DateTime())
    rows = connection.execute(query, {"limit": limit, "message_id": message_id})
    return [_with_utc_times(row._asdict()) for row in rows]


def _with_utc_times(row: dict[str, Any]) -> dict[str, Any]:
    """Stored naive UTC times as ISO text marked UTC, as the ORM's UTCDateTime would give them."""
    for key, value in row.items():
        if isinstance(value, datetime):
            row[key] = value.replace(tzinfo=UTC).isoformat()
    return row
