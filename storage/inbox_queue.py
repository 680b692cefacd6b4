"""Claiming queued inbound messages: the oldest first, emergencies before all, one per sender at a time.

A message stored under overload has status `queued`; an inbox worker takes it by setting `working`,
`claimed_by` and `lease_until` with a conditional UPDATE, so one worker gets it. A worker that dies leaves
its lease to run out, and the message is claimable again. A message is claimable only while no earlier
message of its sender is queued or held, which keeps one sender's messages in order and never in
parallel. On PostgreSQL the candidate row is selected FOR UPDATE SKIP LOCKED, so workers in any number of
processes each take a different one without waiting for each other; SQLite's writers take turns anyway.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from storage.models import InboundMessage

WAITING = ("queued", "working")


def _claimable(message: type[InboundMessage], now: datetime) -> ColumnElement[bool]:
    """Queued, or held by a worker whose lease ran out."""
    return or_(
        message.status == "queued",
        and_(message.status == "working", message.lease_until <= now),
    )


def claim_next(session: Session, holder: str, now: datetime, until: datetime) -> int | None:
    """Take the next message for `holder` until `until`; its id, or None when nothing is claimable."""
    message, earlier = aliased(InboundMessage), aliased(InboundMessage)
    candidate = (
        select(message.id)
        .where(
            _claimable(message, now),
            ~exists().where(
                earlier.openid == message.openid, earlier.status.in_(WAITING), earlier.id < message.id
            ),
        )
        .order_by(message.urgent.desc(), message.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True, of=message)
    message_id = session.scalar(candidate)
    if message_id is None:
        return None
    take = (
        update(InboundMessage)
        .where(InboundMessage.id == message_id, _claimable(InboundMessage, now))
        .values(
            status="working", claimed_by=holder, lease_until=until, attempts=InboundMessage.attempts + 1
        )
        .execution_options(synchronize_session=False)
    )
    return message_id if session.execute(take).rowcount == 1 else None


def start_handling(session: Session, message_id: int, holder: str) -> bool:
    """Mark a message `holder` still holds as handled, in the transaction that handles it; False: not ours."""
    mine = (
        update(InboundMessage)
        .where(
            InboundMessage.id == message_id,
            InboundMessage.status == "working",
            InboundMessage.claimed_by == holder,
        )
        .values(status="handled", lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return session.execute(mine).rowcount == 1

