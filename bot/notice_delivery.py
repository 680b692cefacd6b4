"""The notice delivery job's wiring: whose customer-service window is open, and whether the account has a
notice template (handlers/notices/delivery.py does the rest)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.dispatcher.recipients import last_interactions
from config.settings import Settings
from handlers.notices.delivery import Planned, WindowCheck, deliver_notices
from storage.models import Resident

NOTICE_KIND = "notice"


def window_check(hours: float) -> WindowCheck:
    """Today's way of knowing a resident's 48-hour window, as the dispatcher reckons it (one place to
    switch to a per-resident budget): the latest of their last message and their last window-opening
    inbound message or event."""

    def open_windows(session: Session, residents: Sequence[Resident], now: datetime) -> set[int]:
        wrote = last_interactions(session, {resident.openid for resident in residents})
        window = timedelta(hours=hours)
        opened: set[int] = set()
        for resident in residents:
            times = [t for t in (resident.last_message_at, wrote.get(resident.openid)) if t is not None]
            if times and now - max(times) < window:
                opened.add(resident.id)
        return opened

    return open_windows


def notice_template_ready(settings: Settings) -> bool:
    """True when a configured template with an id lists the `notice` kind (not merely the default one)."""
    return any(NOTICE_KIND in t.kinds and t.id for t in settings.templates.templates.values())


def run_notice_deliveries(factory: sessionmaker[Session], settings: Settings, now: datetime) -> Planned:
    """Plan every notice not yet delivered: pushes into the outbox, the rest onto the workers' lists."""
    return deliver_notices(
        factory,
        now,
        timezone=settings.timezone,
        windows=window_check(settings.delivery.customer_service_window_hours),
        template_ready=notice_template_ready(settings),
    )
