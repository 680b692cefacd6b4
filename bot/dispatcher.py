"""Sends due outbox rows through a messenger, with retries and exponential backoff."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.messenger import Messenger, Push, SendError
from config.settings import DispatcherSettings
from storage.db import transaction
from storage.models import OutboxMessage

log = logging.getLogger(__name__)
URGENT_KINDS = ("emergency",)


@dataclass
class DispatchResult:
    """How one dispatcher run went."""

    sent: int = 0
    retried: int = 0
    dead: int = 0


def dispatch_due(
    factory: sessionmaker[Session],
    messenger: Messenger,
    settings: DispatcherSettings,
    now: datetime,
) -> DispatchResult:
    """Send every pending push that is due, emergencies first; each row is settled in its own transaction."""
    result = DispatchResult()
    for push in _due(factory, settings.batch_size, now):
        try:
            messenger.send(push)
        except SendError as exc:
            dead = _record_failure(factory, push.outbox_id, str(exc), settings, now)
            result.dead += dead
            result.retried += not dead
        else:
            _mark_sent(factory, push.outbox_id, messenger.channel, now)
            result.sent += 1
    return result


def _due(factory: sessionmaker[Session], limit: int, now: datetime) -> list[Push]:
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.kind.in_(URGENT_KINDS).desc(), OutboxMessage.id)
        .limit(limit)
    )
    with transaction(factory) as session:
        return [
            Push(row.id, row.kind, row.recipient, row.recipient_name, row.text)
            for row in session.scalars(query)
        ]


def _mark_sent(factory: sessionmaker[Session], outbox_id: int, channel: str, now: datetime) -> None:
    with transaction(factory) as session:
        row = session.get_one(OutboxMessage, outbox_id)
        row.status, row.channel, row.sent_at = "sent", channel, now
        row.attempts += 1


def _record_failure(
    factory: sessionmaker[Session], outbox_id: int, error: str, settings: DispatcherSettings, now: datetime
) -> bool:
    """Count the failed try and schedule the next one; True when the row has run out of tries."""
    with transaction(factory) as session:
        row = session.get_one(OutboxMessage, outbox_id)
        row.attempts += 1
        row.last_error = error[:500]
        if row.attempts >= settings.max_attempts:
            row.status = "dead"
            log.error("push %s is dead after %s tries: %s", row.id, row.attempts, error)
            return True
        row.next_attempt_at = now + backoff(row.attempts, settings.backoff_seconds)
        return False


def backoff(attempts: int, base_seconds: float, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with ±20% jitter, so retries after an outage do not arrive as one wave."""
    jitter = (rng or random).uniform(0.8, 1.2)
    return timedelta(seconds=base_seconds * 2 ** (attempts - 1) * jitter)
