"""Sends due outbox rows through a messenger: each row claimed under a lease, retried with backoff.

At least once, never twice on purpose: a row is claimed with a conditional UPDATE (only one dispatcher
wins it), sent, then settled. A dispatcher that dies mid-send leaves its lease to run out, and the next
one sends the row again; a row marked sent is never picked up again.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.console.links import render_links
from bot.messenger import Delivery, Messenger, Push, SendError, Throttled, Undeliverable, Unreachable
from bot.outcomes import ALERT_KIND, give_up
from config.settings import DispatcherSettings
from handlers.tally import Tally
from storage.db import transaction
from storage.models import InboundMessage, OutboxMessage, Resident, Worker

log = logging.getLogger(__name__)
# Sent first: emergencies, and alerts that an emergency page did not arrive.
URGENT_KINDS = ("emergency", "urgent", ALERT_KIND)
# Rows taken per claim: few enough that one slow row does not keep many others waiting.
CLAIM_CHUNK = 10
# Pushes in a row that found WeChat not answering before a run stops spending tries on the outage.
OUTAGE_AFTER = 3
# What opens WeChat's 48-hour customer-service window besides a message: following, scanning a QR
# code, and the menu buttons that push an event (wechatpy lower-cases event names).
WINDOW_EVENTS = ("subscribe", "subscribe_scan", "scan", "click", "scancode_push", "scancode_waitmsg")


@dataclass
class DispatchResult(Tally):
    """How one dispatcher run went."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    undeliverable: int = 0
    throttled: int = 0


@dataclass(frozen=True)
class _Run:
    """One dispatcher run: who claims, at what time, and a lease clock that moves on while the run lasts."""

    factory: sessionmaker[Session]
    settings: DispatcherSettings
    claimer: str
    at: datetime
    started: float

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


def dispatch_due(
    factory: sessionmaker[Session],
    messenger: Messenger,
    settings: DispatcherSettings,
    now: datetime,
    *,
    claimer: str | None = None,
) -> DispatchResult:
    """Send up to a batch of due pushes, emergencies first: claimed a few at a time, each settled alone."""
    run = _Run(factory, settings, claimer or new_claimer(), now, time.monotonic())
    result = DispatchResult(dead=_bury_exhausted(run))
    outage = _OutageWatch()
    left, sequence = settings.batch_size, 0
    while left > 0 and not outage.declared:
        sequence += 1
        claim = _claim(run, min(CLAIM_CHUNK, left), f"{run.claimer}/{sequence}")
        if not claim.pushes:
            break
        left -= len(claim.pushes)
        _send_claimed(run, messenger, claim, result, outage)
    return result


@dataclass
class _OutageWatch:
    """Counts pushes in a row that found the platform itself not answering."""

    in_a_row: int = 0

    @property
    def declared(self) -> bool:
        # One busy answer is noise; several in a row are an outage, and further tries would be wasted.
        return self.in_a_row >= OUTAGE_AFTER

    def saw(self, answered: bool) -> None:
        self.in_a_row = 0 if answered else self.in_a_row + 1


def _send_claimed(
    run: _Run, messenger: Messenger, claim: _Claim, result: DispatchResult, outage: _OutageWatch
) -> None:
    half_lease = timedelta(seconds=run.settings.lease_seconds / 2)
    for index, push in enumerate(claim.pushes):
        if run.lease_clock() > claim.lease_until - half_lease or outage.declared:
            # Sending is slow (timeouts) or the platform is down: hand back the rest, their tries refunded.
            _release(run, claim.holder, [p.outbox_id for p in claim.pushes[index:]])
            return
        outage.saw(_send(run, messenger, push, claim.holder, result))


def _send(run: _Run, messenger: Messenger, push: Push, holder: str, result: DispatchResult) -> bool:
    """Send one push and settle its row; False when the platform itself did not answer."""
    try:
        delivery = messenger.send(push) or Delivery(messenger.channel)
    except Throttled as exc:
        _postpone(run, push.outbox_id, holder, exc)
        result.throttled += 1
    except Undeliverable as exc:
        _close(run, push.outbox_id, holder, str(exc), unsubscribed=exc.unsubscribed)
        result.undeliverable += 1
    except Unreachable as exc:
        _count_failure(run, push.outbox_id, holder, str(exc), result)
        return False
    except SendError as exc:
        _count_failure(run, push.outbox_id, holder, str(exc), result)
    except Exception as exc:
        # A bug in a messenger must not stall the whole outbox: the row is retried, then dead and alerted.
        log.exception("messenger failed on push %s", push.outbox_id)
        _count_failure(run, push.outbox_id, holder, f"{type(exc).__name__}: {exc}", result)
    else:
        _mark_sent(run, push.outbox_id, holder, delivery)
        result.sent += 1
    return True


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
    return OutboxMessage.kind.in_(URGENT_KINDS).desc(), OutboxMessage.id.asc()


class _Contact(NamedTuple):
    """How to reach a row's recipient right now."""

    openid: str | None
    wecom_userid: str | None = None
    subscribed: bool = True
    wrote_at: datetime | None = None


def pushes_for(session: Session, rows: Sequence[OutboxMessage], now: datetime) -> list[Push]:
    """The pushes for rows, with each recipient's current openid, WeCom id and customer-service window.

    Console sign-in links are minted here, as the row is claimed for sending (never stored in the text).
    """
    worker_ids = {row.worker_id for row in rows if row.worker_id is not None}
    resident_ids = {row.resident_id for row in rows if row.resident_id is not None}
    workers = {w.id: w for w in session.scalars(select(Worker).where(Worker.id.in_(worker_ids)))}
    residents = {r.id: r for r in session.scalars(select(Resident).where(Resident.id.in_(resident_ids)))}
    contacts = [_contact(row, workers, residents) for row in rows]
    wrote = last_interactions(session, {c.openid for c in contacts if c.openid})
    return [
        Push(
            outbox_id=row.id,
            kind=row.kind,
            recipient=row.recipient,
            recipient_name=row.recipient_name,
            text=render_links(session, row.text, row.worker_id, now),
            ticket_id=row.ticket_id,
            worker_id=row.worker_id,
            resident_id=row.resident_id,
            openid=contact.openid,
            wecom_userid=contact.wecom_userid,
            last_interaction_at=max(
                (t for t in (contact.wrote_at, wrote.get(contact.openid or "")) if t), default=None
            ),
            subscribed=contact.subscribed,
        )
        for row, contact in zip(rows, contacts, strict=True)
    ]


def _contact(row: OutboxMessage, workers: dict[int, Worker], residents: dict[int, Resident]) -> _Contact:
    """The worker's or resident's current address (a rebound openid wins over the one queued)."""
    if row.worker_id is not None:
        worker = workers[row.worker_id]
        return _Contact(worker.openid, worker.wecom_userid)
    if row.resident_id is not None:
        resident = residents[row.resident_id]
        return _Contact(resident.openid, None, resident.subscribed, resident.last_message_at)
    return _Contact(None if row.recipient.startswith("worker:") else row.recipient)


def last_interactions(session: Session, openids: Iterable[str]) -> dict[str, datetime]:
    """When each WeChat user last wrote, followed, scanned or tapped a menu: their window's start."""
    query = (
        select(InboundMessage.openid, func.max(InboundMessage.received_at))
        .where(
            InboundMessage.openid.in_(set(openids)),
            or_(InboundMessage.event.is_(None), InboundMessage.event.in_(WINDOW_EVENTS)),
        )
        .group_by(InboundMessage.openid)
    )
    return {openid: at for openid, at in session.execute(query) if at is not None}


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


def _close(run: _Run, outbox_id: int, holder: str, error: str, *, unsubscribed: bool = False) -> None:
    with transaction(run.factory) as session:
        row = _held(session, holder, outbox_id)
        if row is not None:
            give_up(session, row, "undeliverable", error, run.at, unsubscribed=unsubscribed)


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


def backoff(attempts: int, base_seconds: float, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with ±20% jitter, so retries after an outage do not arrive as one wave."""
    jitter = (rng or random).uniform(0.8, 1.2)
    return timedelta(seconds=base_seconds * 2 ** (attempts - 1) * jitter)
