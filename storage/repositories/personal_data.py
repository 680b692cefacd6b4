"""Queries for erasing personal data: forgetting one resident, and the retention sweep's batches.

What is a resident's comes in as SQL conditions (handlers/people/forgetting/their_data.py); the
set-based erasures themselves are storage/erasure.py.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, String, cast, delete, func, select, update
from sqlalchemy.orm import Session

from storage.models import (
    CheckIn,
    FamilyCode,
    FamilyContact,
    FamilyFollower,
    InboundMessage,
    OutboxMessage,
    SubscriptionConsent,
    Ticket,
    Visit,
)

# Pushes not sent yet: due, or held for the resident's next message (bot/dispatcher/budget.py).
WAITING_PUSHES = ("pending", "held")


def ticket_ids_of(session: Session, resident_id: int) -> list[int]:
    """The ids of a resident's tickets, in order."""
    return list(
        session.scalars(select(Ticket.id).where(Ticket.resident_id == resident_id).order_by(Ticket.id))
    )


def ids_in_statuses(session: Session, ids: list[int], statuses: Collection[str]) -> list[int]:
    """Those of these tickets that are in these statuses, in order."""
    query = select(Ticket.id).where(Ticket.id.in_(ids), Ticket.status.in_(statuses)).order_by(Ticket.id)
    return list(session.scalars(query))


def tickets_by_ids(session: Session, ids: list[int]) -> list[Ticket]:
    """The tickets with these ids."""
    return list(session.scalars(select(Ticket).where(Ticket.id.in_(ids))))


def count_pushes(session: Session, pushes: ColumnElement[bool], *, pending_only: bool = False) -> int:
    """How many pushes meet the condition (only those not sent yet, with pending_only)."""
    query = select(OutboxMessage.id).where(pushes)
    if pending_only:
        query = query.where(OutboxMessage.status.in_(WAITING_PUSHES))
    return _count(session, query)


def count_messages(session: Session, messages: ColumnElement[bool]) -> int:
    """How many inbound messages meet the condition."""
    return _count(session, select(InboundMessage.id).where(messages))


def _count(session: Session, query: Select[tuple[int]]) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def media_paths(session: Session, messages: ColumnElement[bool]) -> list[str]:
    """The stored media files of the messages that meet the condition."""
    return list(
        session.scalars(select(InboundMessage.media_path).where(messages, InboundMessage.media_path != ""))
    )


def cancel_pending_pushes(session: Session, pushes: ColumnElement[bool]) -> int:
    """Cancel the pushes meeting the condition that are still to be sent; how many."""
    return session.execute(
        update(OutboxMessage)
        .where(pushes, OutboxMessage.status.in_(WAITING_PUSHES))
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    ).rowcount


def readdress_pushes(session: Session, pushes: ColumnElement[bool], recipient: str) -> None:
    """The pushes meeting the condition name another recipient."""
    session.execute(
        update(OutboxMessage)
        .where(pushes)
        .values(recipient=recipient)
        .execution_options(synchronize_session=False)
    )


def unlink_messages(session: Session, openid: str, tombstone: str) -> None:
    """Their messages' sender becomes the tombstone; event keys (evt:<openid>:<time>:...) lose the openid."""
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.dedup_key.startswith(f"evt:{openid}:", autoescape=True))
        .values(dedup_key=f"evt:{tombstone}:" + cast(InboundMessage.id, String))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.openid == openid)
        .values(openid=tombstone)
        .execution_options(synchronize_session=False)
    )


def erase_household(session: Session, resident_id: int, waiting: Collection[str]) -> None:
    """Delete the resident's check-ins in the waiting statuses, blank the other check-ins' answers and
    visit notes, and delete their family contacts, followings either way and family codes."""
    session.execute(delete(CheckIn).where(CheckIn.resident_id == resident_id, CheckIn.status.in_(waiting)))
    for model, column in ((CheckIn, CheckIn.answer), (Visit, Visit.note)):
        session.execute(
            update(model)
            .where(model.resident_id == resident_id, column.is_not(None))
            .values({column.key: None})
            .execution_options(synchronize_session=False)
        )
    session.execute(delete(FamilyContact).where(FamilyContact.resident_id == resident_id))
    follows = (FamilyFollower.elder_id == resident_id) | (FamilyFollower.follower_id == resident_id)
    session.execute(delete(FamilyFollower).where(follows))
    session.execute(delete(FamilyCode).where(FamilyCode.elder_id == resident_id))



def forget_consents(session: Session, openid: str) -> None:
    """Delete what this openid said to subscription messages (kept by openid, not by resident)."""
    session.execute(delete(SubscriptionConsent).where(SubscriptionConsent.openid == openid))


def closed_ticket_ids(session: Session, cutoff: datetime, limit: int) -> list[int]:
    """The first tickets closed (or cancelled) before the cutoff and not yet erased, by id."""
    due = (
        select(Ticket.id)
        .where(Ticket.erased_at.is_(None), Ticket.closed_at < cutoff)
        .order_by(Ticket.id)
        .limit(limit)
    )
    return list(session.scalars(due))


def old_message_ids(session: Session, cutoff: datetime, limit: int) -> list[int]:
    """The first messages received before the cutoff and not yet erased, by id."""
    due = (
        select(InboundMessage.id)
        .where(InboundMessage.erased_at.is_(None), InboundMessage.received_at < cutoff)
        .order_by(InboundMessage.id)
        .limit(limit)
    )
    return list(session.scalars(due))


def answered_checkin_ids(session: Session, before: date, after_id: int, limit: int) -> list[int]:
    """The next check-ins with an answer, of days before `before`, after an id, by id."""
    kept = (CheckIn.day < before, CheckIn.answer.is_not(None))
    next_ids = select(CheckIn.id).where(*kept, CheckIn.id > after_id).order_by(CheckIn.id)
    return list(session.scalars(next_ids.limit(limit)))


def forget_answers(session: Session, ids: list[int], before: date) -> int:
    """Blank the answers of these check-ins (still of days before `before`); how many."""
    kept = (CheckIn.day < before, CheckIn.answer.is_not(None))
    forget = (
        update(CheckIn)
        .where(CheckIn.id.in_(ids), *kept)
        .values(answer=None)
        .execution_options(synchronize_session=False)
    )
    return session.execute(forget).rowcount
