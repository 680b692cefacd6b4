"""The retention sweep: personal data past its time ([retention] in config/griddesk.toml) is erased.

Closed and cancelled tickets lose their words, notes, pushes, messages and media after
`closed_ticket_days`; every inbound message loses its text after `inbound_text_days`. What reports count
(category, grid, times, state, the trail's who and when) stays. Batches of their own transaction each, so
the webhook never waits long behind the sweep, and a sweep stopped half-way just continues next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from config.settings import RetentionSettings
from handlers.tickets.tally import Tally
from storage.db import bulk_slice, snapshot, transaction
from storage.erasure import delete_media_files, erase_messages, erase_tickets
from storage.models import AuditEvent, InboundMessage
from storage.repositories import personal_data

BATCH_SIZE = 200
# Forgetting a check-in answer is one small UPDATE: bigger batches than a ticket's erasure.
ANSWERS_BATCH_SIZE = 2000
SWEEP_ACTOR = "系统"


@dataclass
class RetentionRun(Tally):
    """What one retention sweep erased."""

    tickets: int = 0
    messages: int = 0
    checkin_answers: int = 0
    media_files: int = 0


def sweep_retention(
    factory: sessionmaker[Session],
    retention: RetentionSettings,
    media_dir: Path,
    now: datetime,
    batch_size: int = BATCH_SIZE,
) -> RetentionRun:
    """Erase closed tickets' and old messages' personal data; one audit event when anything went."""
    result = RetentionRun()
    sweep = _Sweep(factory, media_dir, now, result, batch_size)
    if retention.closed_ticket_days:
        sweep.closed_tickets(now - timedelta(days=retention.closed_ticket_days))
    if retention.inbound_text_days:
        sweep.old_messages(now - timedelta(days=retention.inbound_text_days))
    if result.total:
        with transaction(factory) as session:
            session.add(
                AuditEvent(
                    action="retention_sweep",
                    actor=SWEEP_ACTOR,
                    subject="data past its retention",
                    detail=result.summary(),
                    created_at=now,
                )
            )
    return result


@dataclass
class _Sweep:
    """One run's database, media folder, clock and tally."""

    factory: sessionmaker[Session]
    media_dir: Path
    now: datetime
    result: RetentionRun
    batch_size: int

    def closed_tickets(self, cutoff: datetime) -> None:
        """Tickets closed or cancelled before the cutoff, with their messages and media, a batch at a time."""
        while True:
            with bulk_slice(self.factory) as session:
                ids = personal_data.closed_ticket_ids(session, cutoff, self.batch_size)
                self.result.tickets += erase_tickets(session, ids, self.now)
                erased, media = erase_messages(session, InboundMessage.ticket_id.in_(ids), self.now)
                self.result.messages += erased
            self.result.media_files += delete_media_files(media, self.media_dir)
            if len(ids) < self.batch_size:
                return

    def old_messages(self, cutoff: datetime) -> None:
        """Messages received before the cutoff, a batch at a time; check-in answers of those days too."""
        while True:
            with bulk_slice(self.factory) as session:
                ids = personal_data.old_message_ids(session, cutoff, self.batch_size)
                erased, media = erase_messages(session, InboundMessage.id.in_(ids), self.now)
                self.result.messages += erased
            self.result.media_files += delete_media_files(media, self.media_dir)
            if len(ids) < self.batch_size:
                break
        self.checkin_answers(cutoff)

    def checkin_answers(self, cutoff: datetime) -> None:
        """Check-in answers of the days before the cutoff: up to a million a day, so a slice at a time."""
        before = cutoff.date()
        last = 0
        while True:
            with snapshot(self.factory) as session:
                ids = personal_data.answered_checkin_ids(session, before, last, ANSWERS_BATCH_SIZE)
            if not ids:
                return
            with bulk_slice(self.factory) as session:
                self.result.checkin_answers += personal_data.forget_answers(session, ids, before)
            last = ids[-1]
