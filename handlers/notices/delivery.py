"""Telling every bound resident of a notice's buildings, once, within WeChat's limits.

One job per notice (never the console's request: a building may have 300 residents). Each resident gets
a customer-service message while their 48-hour window is open, else a template message when the account
has a notice template, else they are listed for the worker to post the notice or tell them. A
`notice_deliveries` row per resident (unique per notice) keeps it to one copy each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from handlers.notices.writing import push_text
from storage.db import transaction
from storage.models import Notice, NoticeDelivery, Resident
from storage.outbox import queue_push
from storage.repositories import notices

CUSTOM, TEMPLATE, POST = "custom", "template", "post"
# Outbox statuses of a push WeChat would not take: the worker tells that resident by hand.
FAILED = ("dead", "undeliverable")
# The ids of the residents (of those given) whose customer-service window is open now.
WindowCheck = Callable[[Session, Sequence[Resident], datetime], set[int]]


@dataclass
class Planned:
    """What one delivery run did: notices planned, and residents by channel."""

    notices: int = 0
    channels: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Residents given a delivery in this run."""
        return sum(self.channels.values())


def deliver_notices(
    factory: sessionmaker[Session],
    now: datetime,
    *,
    timezone: str,
    windows: WindowCheck,
    template_ready: bool,
) -> Planned:
    """Plan every notice not yet planned, each in its own transaction."""
    planned = Planned()
    with transaction(factory) as session:
        waiting = notices.unplanned_ids(session)
    for notice_id in waiting:
        with transaction(factory) as session:
            channels = plan_notice(session, notice_id, now, timezone, windows, template_ready)
        if channels is not None:
            planned.notices += 1
            planned.channels.update(channels)
    return planned


def plan_notice(
    session: Session,
    notice_id: int,
    now: datetime,
    timezone: str,
    windows: WindowCheck,
    template_ready: bool,
) -> Counter[str] | None:
    """Give each bound resident of the notice's buildings one delivery; None if another run took it."""
    if not notices.claim_for_planning(session, notice_id, now):
        return None
    notice = session.get(Notice, notice_id)
    assert notice is not None
    channels: Counter[str] = Counter()
    if notice.until() <= now:
        return channels  # ended before anyone was told: nothing to say any more
    residents = _residents(session, notice)
    open_now = windows(session, residents, now)
    text = push_text(notice, timezone)
    for resident in residents:
        channel = _channel(resident, open_now, template_ready)
        outbox_id = None
        if channel != POST:
            outbox_id = queue_push(session, now, kind="notice", text=text, resident=resident)
        delivery = NoticeDelivery(notice_id=notice.id, resident_id=resident.id, channel=channel)
        delivery.outbox_id = outbox_id
        session.add(delivery)
        channels[channel] += 1
    return channels


def _residents(session: Session, notice: Notice) -> list[Resident]:
    """The residents bound to the notice's buildings, each once."""
    return notices.residents_of(session, [building.id for building in notice.buildings])


def _channel(resident: Resident, open_now: set[int], template_ready: bool) -> str:
    """Customer-service inside the window, else a template where the account has one, else the list."""
    if not resident.subscribed:
        return POST
    if resident.id in open_now:
        return CUSTOM
    return TEMPLATE if template_ready else POST


@dataclass(frozen=True)
class DeliveryCounts:
    """A notice's deliveries for its console page."""

    custom: int
    template: int
    post: int
    # Pushes WeChat would not take (the resident unfollowed, or every try failed): the worker tells them.
    failed: int
    planned: bool


def delivery_counts(session: Session, notice: Notice) -> DeliveryCounts:
    """How the notice's residents were told, by channel."""
    rows = notices.delivery_channels(session, notice.id)
    by_channel = Counter(channel for channel, _ in rows)
    failed = sum(1 for _, status in rows if status in FAILED)
    return DeliveryCounts(
        by_channel[CUSTOM], by_channel[TEMPLATE], by_channel[POST], failed, notice.planned_at is not None
    )


def to_post(session: Session, notice: Notice) -> list[Resident]:
    """Residents the worker should tell by hand: listed, or their push failed; by building and room."""
    residents = notices.told_by_hand(session, notice.id, POST, FAILED)
    return sorted(residents, key=lambda r: (r.address or "", r.id))
