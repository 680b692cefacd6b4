"""Settling a row after its try: sent, retried with backoff, postponed, or given up."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.dispatcher.claims import _Run
from bot.messenger import Delivery, Throttled
from handlers.tickets.tally import Tally
from handlers.tickets.undelivered import give_up
from storage.db import transaction
from storage.models import OutboxMessage

log = logging.getLogger(__name__)


@dataclass
class DispatchResult(Tally):
    """How one dispatcher run went."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    undeliverable: int = 0
    throttled: int = 0
    # Staff pushes held back for their member's budget, and pushes folded into digests.
    paced: int = 0
    folded: int = 0
    # Residents' pushes held for their next message, and pushes not sent because newer news replaced them.
    held: int = 0
    superseded: int = 0
    # Held news sent as templates after the resident's conversation ended without a next message.
    released: int = 0


def _held(session: Session, holder: str, outbox_id: int) -> OutboxMessage | None:
    """The row, if this claim still holds it."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.status == "pending",
            OutboxMessage.claimed_by == holder,
        )
        .with_for_update()
    )
    row = session.scalar(query)
    if row is None:
        log.warning("push %s: lease lost to another dispatcher; leaving the row to it", outbox_id)
    return row


def _mark_sent(run: _Run, outbox_id: int, holder: str, delivery: Delivery) -> None:
    """Record the delivery; a row still pending is marked sent even if its lease was lost meanwhile."""
    sent = (
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == "pending")
        .values(
            status="sent",
            channel=delivery.channel,
            wechat_msgid=delivery.msgid,
            sent_at=run.at,
            lease_until=None,
            receipt=None,
        )
        .execution_options(synchronize_session=False)
    )
    with transaction(run.factory) as session:
        held = session.execute(sent.where(OutboxMessage.claimed_by == holder)).rowcount
        if not held and session.execute(sent).rowcount:
            # Delivered all the same; a dispatcher that took over the lease may deliver it a second time.
            log.warning("push %s was delivered after its lease ran out", outbox_id)


def _count_failure(run: _Run, outbox_id: int, holder: str, error: str, result: DispatchResult) -> None:
    with transaction(run.factory) as session:
        row = _held(session, holder, outbox_id)
        if row is None:
            return
        if row.attempts >= run.settings.max_attempts:
            give_up(session, row, "dead", error, run.at)
            result.dead += 1
            return
        row.last_error, row.lease_until = error[:500], None
        # From the moment this try failed, not the run's start: a run of slow failures outlasts a backoff.
        row.next_attempt_at = run.lease_clock() + backoff(row.attempts, run.settings.backoff_seconds)
        result.retried += 1


def _postpone(run: _Run, outbox_id: int, holder: str, exc: Throttled) -> None:
    """Try again once the quota allows; a throttled try is not held against the row."""
    with transaction(run.factory) as session:
        row = _held(session, holder, outbox_id)
        if row is None:
            return
        row.attempts -= 1
        row.last_error, row.lease_until = str(exc)[:500], None
        row.next_attempt_at = run.lease_clock() + exc.retry_after * random.uniform(1.0, 1.2)


def _hold(run: _Run, outbox_id: int, holder: str, reason: str) -> None:
    """Keep a resident's routine push for their next message: not a failed try, and not lost."""
    with transaction(run.factory) as session:
        row = _held(session, holder, outbox_id)
        if row is None:
            return
        row.attempts -= 1
        row.status, row.last_error, row.lease_until = "held", reason[:500], None


def _close(run: _Run, outbox_id: int, holder: str, error: str, *, unsubscribed: bool = False) -> None:
    with transaction(run.factory) as session:
        row = _held(session, holder, outbox_id)
        if row is not None:
            give_up(session, row, "undeliverable", error, run.at, unsubscribed=unsubscribed)


def backoff(attempts: int, base_seconds: float, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with ±20% jitter, so retries after an outage do not arrive as one wave."""
    jitter = (rng or random).uniform(0.8, 1.2)
    return timedelta(seconds=base_seconds * 2 ** (attempts - 1) * jitter)
