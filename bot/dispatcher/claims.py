"""Claiming due outbox rows under a lease, urgent ones first, and handing back or burying them."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.dispatcher.recipients import pushes_for
from bot.messenger import FIRST_KINDS, Push
from config.settings import DispatcherSettings
from handlers.tickets.undelivered import ALERT_KIND, give_up
from storage.db import transaction
from storage.models import OutboxMessage

# Sent first: emergencies, and alerts that an emergency page did not arrive.
URGENT_KINDS = ("emergency", "urgent", ALERT_KIND)
# Claimed first: those, and what a resident's customer-service window spends its sends on first
# (receipts of messages finished late, family alerts): bot/messenger.py FIRST_KINDS.
CLAIMED_FIRST = tuple(sorted(set(URGENT_KINDS) | FIRST_KINDS))


@dataclass(frozen=True)
class _Run:
    """One dispatcher run: who claims, at what time, and a lease clock that moves on while the run lasts."""

    factory: sessionmaker[Session]
    settings: DispatcherSettings
    claimer: str
    at: datetime
    started: float
    # Staff pushes are paced per member and bursts folded (bot/dispatcher/pacing.py): real platforms only.
    paced: bool = False

    def lease_clock(self) -> datetime:
        # A long batch must not hand out leases that are already stale when they are granted.
        return self.at + timedelta(seconds=time.monotonic() - self.started)


@dataclass(frozen=True)
class _Claim:
    """Rows taken by one conditional UPDATE: the name they are held under, and until when."""

    holder: str
    lease_until: datetime
    pushes: list[Push]


def new_claimer() -> str:
    """A name for one dispatcher run, unique across processes and hosts."""
    return uuid.uuid4().hex


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.status == "pending",
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )


def _claim(run: _Run, limit: int, holder: str) -> _Claim:
    """Take up to `limit` due rows under a lease, counting the try; rows a rival took first are left out."""
    now = run.lease_clock()
    lease_until = now + timedelta(seconds=run.settings.lease_seconds)
    due = (
        select(OutboxMessage.id)
        .where(_claimable(now), OutboxMessage.attempts < run.settings.max_attempts)
        .order_by(*_urgent_first())
        .limit(limit)
    )
    with transaction(run.factory) as session:
        ids = list(session.scalars(due))
        if not ids:
            return _Claim(holder, lease_until, [])
        # The condition is checked again in the UPDATE: of two dispatchers that picked the same ids,
        # only one takes each row (SQLite serialises writers; PostgreSQL re-checks the locked row).
        take = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), _claimable(now))
            .values(claimed_by=holder, lease_until=lease_until, attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        session.execute(take)
        taken = (
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == holder)
            .order_by(*_urgent_first())
        )
        return _Claim(holder, lease_until, pushes_for(session, list(session.scalars(taken)), now))


def _urgent_first() -> tuple[ColumnElement[Any], ...]:
    return OutboxMessage.kind.in_(CLAIMED_FIRST).desc(), OutboxMessage.id.asc()


def _release(run: _Run, holder: str, outbox_ids: list[int]) -> None:
    """Hand rows back untried: no lease, and the try counted at the claim refunded."""
    release = (
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(outbox_ids),
            OutboxMessage.claimed_by == holder,
            OutboxMessage.status == "pending",
        )
        .values(lease_until=None, attempts=OutboxMessage.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    with transaction(run.factory) as session:
        session.execute(release)


def _bury_exhausted(run: _Run) -> int:
    """Rows whose last try was cut short by a crash (lease ran out, no tries left) are dead."""
    now = run.lease_clock()
    query = select(OutboxMessage).where(_claimable(now), OutboxMessage.attempts >= run.settings.max_attempts)
    with transaction(run.factory) as session:
        rows = list(session.scalars(query.with_for_update()))
        for row in rows:
            give_up(session, row, "dead", row.last_error or "dispatcher stopped during the last try", run.at)
        return len(rows)
