"""APScheduler wiring: the clock that drives the outbox dispatcher and the deadline sweep."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from bot.app import Clock
from bot.dispatcher import dispatch_due
from bot.intents import IntentClassifier
from bot.messenger import Messenger
from config.settings import Settings
from handlers.escalation import sweep

log = logging.getLogger(__name__)


def build_scheduler(
    settings: Settings,
    factory: sessionmaker[Session],
    messenger: Messenger,
    clock: Clock,
    classifier: IntentClassifier,
) -> BackgroundScheduler:
    """A scheduler (not yet started) that dispatches the outbox and sweeps ticket deadlines."""
    scheduler = BackgroundScheduler(timezone=settings.timezone)

    def dispatch() -> None:
        result = dispatch_due(factory, messenger, settings.dispatcher, clock())
        if result.retried or result.dead:
            log.warning("outbox: %s sent, %s to retry, %s dead", result.sent, result.retried, result.dead)

    def sweep_deadlines() -> None:
        result = sweep(factory, settings, classifier, clock())
        if result.total:
            log.info("deadline sweep: %s", result.summary())

    scheduler.add_job(
        dispatch,
        "interval",
        seconds=settings.dispatcher.interval_seconds,
        id="dispatch-outbox",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        sweep_deadlines,
        "interval",
        seconds=settings.escalation.sweep_interval_seconds,
        id="deadline-sweep",
        max_instances=1,
        coalesce=True,
    )
    return scheduler
