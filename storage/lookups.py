"""Probes on the message path: Core statements built once, run on the session's own connection.

Every resident message asks whether its sender is a worker, how many messages they sent in the last
minute, and whether they have a check-in today; nearly always the answer is "no". An ORM query builds its
statement, loads objects and consults the unit of work each time (about 0.3 ms each); these read one column
through a statement built on first use, and the caller loads an object only when there is one.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from storage.models import CheckIn, InboundMessage, Worker

# WeChat's template receipts carry the recipient's openid, but the resident did not write them.
RECEIPT_EVENT = "templatesendjobfinish"


def worker_id_for(session: Session, openid: str) -> int | None:
    """The id of the worker bound to this openid, if any."""
    return session.connection().scalar(_worker_by_openid(), {"openid": openid})


def checkin_id_for(session: Session, resident_id: int, day: date) -> int | None:
    """The id of the resident's check-in row for `day`, if they have one."""
    return session.connection().scalar(_checkin_of_day(), {"resident_id": resident_id, "day": day})


def nth_latest_before(session: Session, openid: str, message_id: int | None, nth: int) -> datetime | None:
    """When the sender's nth newest message other than `message_id` came (template receipts aside)."""
    params = {"openid": openid, "message_id": message_id if message_id is not None else -1}
    return session.connection().scalar(_nth_latest(nth), params)


@cache
def _worker_by_openid() -> Select[Any]:
    return select(Worker.__table__.c.id).where(Worker.__table__.c.openid == bindparam("openid"))


@cache
def _checkin_of_day() -> Select[Any]:
    table = CheckIn.__table__
    return select(table.c.id).where(
        table.c.resident_id == bindparam("resident_id"), table.c.day == bindparam("day")
    )


@cache
def _nth_latest(nth: int) -> Select[Any]:
    """An index range read that stops at the nth row, not a count (one statement per configured limit)."""
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
