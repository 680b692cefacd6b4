"""Queries about the messages residents and workers sent (InboundMessage)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from storage.models import InboundMessage

# WeChat's template receipts carry the recipient's openid, but the resident did not write them.
RECEIPT_EVENT = "templatesendjobfinish"


def nth_latest_before(session: Session, openid: str, message_id: int | None, nth: int) -> datetime | None:
    """When the sender's nth newest message other than `message_id` came (template receipts aside)."""
    params = {"openid": openid, "message_id": message_id if message_id is not None else -1}
    return session.connection().scalar(_nth_latest(nth), params)


def with_status_since(session: Session, openid: str, status: str, since: datetime) -> bool:
    """Whether the sender has a message in this status received strictly after `since`."""
    query = select(InboundMessage.id).where(
        InboundMessage.openid == openid,
        InboundMessage.received_at > since,
        InboundMessage.status == status,
    )
    return session.scalar(query.limit(1)) is not None


@cache
def _nth_latest(nth: int) -> Select[Any]:
    """An index range read that stops at the nth row, not a count (one statement per configured limit);
    built once and read as one column on the session's connection: every resident message asks it."""
    table = InboundMessage.__table__
    return (
        select(table.c.received_at)
        .where(
            table.c.openid == bindparam("openid"),
            table.c.id != bindparam("message_id"),
            or_(table.c.event.is_(None), func.lower(table.c.event) != RECEIPT_EVENT),
        )
        .order_by(table.c.received_at.desc())
        .limit(1)
        .offset(nth - 1)
    )
