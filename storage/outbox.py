"""Writing the outbox: every push GridDesk owes is a row here, sent by the dispatcher after commit."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import Insert, Select, bindparam, func, insert, select
from sqlalchemy.orm import Session

from storage.models import OutboxMessage, Resident, Ticket, Worker


def queue_push(
    session: Session,
    now: datetime,
    *,
    kind: str,
    text: str,
    worker: Worker | None = None,
    resident: Resident | None = None,
    ticket: Ticket | None = None,
    message_id: int | None = None,
) -> int:
    """Write a push into the outbox; the dispatcher sends it after this transaction commits. Its id.

    One Core INSERT built once, not an object for the unit of work to flush (the last flush on a new
    ticket's path). Objects still waiting for a flush go first, so outbox rows keep the order they were
    queued in and every row the push points at is already there.
    """
    if worker is None and resident is None:
        raise ValueError("a push needs a worker or a resident")
    if session.new:
        session.flush()
    if worker is not None:
        recipient, name = worker.openid or worker.wecom_userid or f"worker:{worker.id}", worker.name
    else:
        assert resident is not None
        recipient, name = resident.openid, resident.name or "居民"
    row = {
        "kind": kind,
        "recipient": recipient,
        "recipient_name": name,
        "worker_id": worker.id if worker else None,
        "resident_id": resident.id if resident else None,
        "ticket_id": ticket.id if ticket else None,
        "message_id": message_id,
        "text": text,
        "next_attempt_at": now,
        "created_at": now,
    }
    result = session.connection().execute(_new_push(), row)
    return int(result.inserted_primary_key[0])


@cache
def _new_push() -> Insert:
    """Built once: every new ticket queues one."""
    return insert(OutboxMessage.__table__)


def fold_into(session: Session, carrier: OutboxMessage, rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """Mark `rows` as folded into the (flushed) carrier push; every row it carries, the earlier first."""
    earlier = list(session.scalars(select(OutboxMessage).where(OutboxMessage.folded_into == carrier.id)))
    for row in rows:
        row.status, row.folded_into, row.lease_until = "folded", carrier.id, None
    return [*earlier, *rows]


def held_count(session: Session, openid: str) -> int:
    """How many pushes are held for this resident's next message: every resident message asks it."""
    return session.connection().scalar(_held_count(), {"openid": openid}) or 0


@cache
def _held_count() -> Select[tuple[int]]:
    table = OutboxMessage.__table__
    return select(func.count()).where(
        table.c.status == "held",
        table.c.recipient == bindparam("openid"),
        table.c.resident_id.is_not(None),
    )


def held_for(session: Session, openid: str) -> list[OutboxMessage]:
    """The pushes held for this resident's next message (bot/dispatcher/budget.py), oldest first."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "held",
            OutboxMessage.recipient == openid,
            OutboxMessage.resident_id.is_not(None),
        )
        .order_by(OutboxMessage.id)
    )
    return list(session.scalars(query))
