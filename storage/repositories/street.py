"""Queries behind the street office's overview (bot/console/views/street.py): one community's figures.

Each runs on one community's database; the street's page asks every community's in turn.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from storage.models import CheckIn, Resident, Ticket


def opened_since(session: Session, start: datetime) -> int:
    """Tickets opened at or after `start` (cancelled ones too: they were new)."""
    return session.scalar(select(func.count()).where(Ticket.created_at >= start)) or 0


def late_unsigned(session: Session, unsigned: Collection[str], now: datetime) -> int:
    """Tickets nobody has signed for yet, past their sign-for deadline."""
    query = select(func.count()).where(Ticket.status.in_(unsigned), Ticket.ack_due_at <= now)
    return session.scalar(query) or 0


def missed_checkins(session: Session, day: date) -> int:
    """The day's check-ins that went unanswered long enough to become a 敲门 task."""
    query = select(func.count()).where(CheckIn.day == day, CheckIn.missed_at.is_not(None))
    return session.scalar(query) or 0


def first_responses(session: Session, since: datetime) -> Sequence[tuple[datetime, datetime]]:
    """(opened, signed for) of every ticket opened since then that someone has signed for."""
    query = select(Ticket.created_at, Ticket.acknowledged_at).where(
        Ticket.created_at >= since, Ticket.acknowledged_at.is_not(None)
    )
    return [(opened, signed) for opened, signed in session.execute(query)]


def opened_between(session: Session, start: datetime, end: datetime) -> list[Ticket]:
    """Tickets opened from start to before end, by number, with their resident and building."""
    query = (
        select(Ticket)
        .where(Ticket.created_at >= start, Ticket.created_at < end)
        .order_by(Ticket.id)
        .options(selectinload(Ticket.resident).selectinload(Resident.building))
    )
    return list(session.scalars(query))
