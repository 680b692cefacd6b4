"""APScheduler wiring: the clock that drives the outbox dispatcher (and later sweeps)."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from bot.app import Clock
from bot.dispatcher import dispatch_due
from bot.messenger import Messenger
from config.settings import Settings

log = logging.getLogger(__name__)


def build_scheduler(
    settings: Settings, factory: sessionmaker[Session], messenger: Messenger, clock: Clock
) -> BackgroundScheduler:
    """A scheduler (not yet started) that dispatches the outbox every few seconds."""
    scheduler = BackgroundScheduler(timezone=settings.timezone)

    def dispatch() -> None:
        result = dispatch_due(factory, messenger, settings.dispatcher, clock())
        if result.retried or result.dead:
            log.warning("outbox: %s sent, %s to retry, %s dead", result.sent, result.retried, result.dead)

    scheduler.add_job(
        dispatch,
        "interval",
        seconds=settings.dispatcher.interval_seconds,
        id="dispatch-outbox",
        max_instances=1,
        coalesce=True,
    )
    return scheduler
