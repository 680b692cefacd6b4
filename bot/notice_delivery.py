"""The notice delivery job's wiring: whose customer-service window is open, and whether the account has a
notice template (handlers/notices/delivery.py does the rest)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from handlers.notices.delivery import Planned, WindowCheck, deliver_notices
from storage.models import Resident
from storage.windows import allowances_of

NOTICE_KIND = "notice"


def window_check(hours: float) -> WindowCheck:
    """Who may get a customer-service message now: a send left in their window (storage/windows.py),
    the same count the dispatcher keeps, so a notice never plans a send WeChat would refuse."""
    span = timedelta(hours=hours)

    def open_windows(session: Session, residents: Sequence[Resident], now: datetime) -> set[int]:
        left = allowances_of(session, {resident.openid for resident in residents})
        return {r.id for r in residents if r.openid in left and left[r.openid].sends_left(now, span) > 0}

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
