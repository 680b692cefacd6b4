"""APScheduler wiring: the clock that drives the outbox dispatcher, the deadline sweep and the check-ins.

Every job runs under a database lease named after it (storage/leases.py), so any number of scheduler
processes can run side by side and each job still runs in one of them at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from bot.dispatcher import dispatch_due
from bot.freshness import prune_nonces
from bot.media_store import download_pending_media
from bot.messenger import Messenger
from bot.notice_delivery import run_notice_deliveries
from bot.wechat_api import official_account_client
from config.settings import Settings
from handlers.clock import Clock
from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins import CheckInResult, PingSweep, call_list_sweep, knock_sweep, remind_sweep
from handlers.jobs.escalation import sweep
from handlers.jobs.reports import push_reports
from handlers.jobs.retention import sweep_retention
from handlers.jobs.visits import send_visit_digests
from handlers.language.intents import IntentClassifier
from storage.leases import JobLeases

log = logging.getLogger(__name__)
# Check-in times are whole minutes; each sweep is idempotent, so a late or doubled run is harmless.
CHECKIN_SWEEP_SECONDS = 60.0
# Reports go out at a whole minute (reports.push_time); each run sends only what nobody has had yet.
REPORT_PUSH_SECONDS = 60.0
# Notices written in the console reach their residents within this long (one job per notice).
NOTICE_DELIVERY_SECONDS = 15.0
# WeChat deletes residents' photos and voice after 3 days; a minute's delay costs nothing, a failure retries.
MEDIA_DOWNLOAD_SECONDS = 60.0
# Forgetting stale webhook nonces: a few rows a minute, cheap to delete, harmless to keep a while longer.
NONCE_PRUNE_SECONDS = 60.0
# How long a sweep's lease lasts: longer than a sweep takes; a dead process holds it up this long at most.
# A sweep that outlasts it may overlap another process's run, which its conditional updates tolerate.
SWEEP_LEASE_SECONDS = 120.0
# The retention sweep's first run after an upgrade may have a year of data to erase, in batches.
RETENTION_JOB, RETENTION_LEASE_SECONDS = "retention-sweep", 1800.0


def build_scheduler(
    settings: Settings,
    factory: sessionmaker[Session],
    messenger: Messenger,
    clock: Clock,
    classifier: IntentClassifier,
    leases: JobLeases | None = None,
) -> BackgroundScheduler:
    """A scheduler (not yet started): outbox dispatch, deadline and check-in sweeps, media downloads."""
    scheduler = BackgroundScheduler(timezone=settings.timezone)
    leases = leases or JobLeases(factory)
    # The sweeps read only the domain's settings; the dispatcher, nonces and media keep the rest.
    domain = DomainSettings.of(settings)

    def dispatch() -> None:
        result = dispatch_due(factory, messenger, settings.dispatcher, clock())
        if result.retried or result.dead:
            log.warning("outbox: %s sent, %s to retry, %s dead", result.sent, result.retried, result.dead)

    def sweep_deadlines() -> None:
        result = sweep(factory, domain, classifier, clock())
        if result.total:
            log.info("deadline sweep: %s", result.summary())

    ping_sweep = PingSweep(factory, domain)

    def checkin_pings() -> None:
        now = clock()
        _log_checkins("pings", ping_sweep(now))
        _log_checkins("call lists", call_list_sweep(factory, domain, now))

    def checkin_reminders() -> None:
        _log_checkins("reminders", remind_sweep(factory, domain, clock()))

    def checkin_knocks() -> None:
        _log_checkins("knock tasks", knock_sweep(factory, domain, classifier, clock()))

    def visit_digests() -> None:
        sent = send_visit_digests(factory, domain, clock())
        if sent:
            log.info("visit digests: %s sent", sent)

    def report_pushes() -> None:
        result = push_reports(factory, domain, clock())
        if result.total:
            log.info("report pushes: %s", result.summary())

    def retention_sweep() -> None:
        result = sweep_retention(factory, settings.retention, settings.delivery.media_dir, clock())
        if result.total:
            log.info("retention sweep erased: %s", result.summary())

    def notice_deliveries() -> None:
        planned = run_notice_deliveries(factory, settings, clock())
        if planned.notices:
            log.info("notices: %s planned, residents by channel %s", planned.notices, dict(planned.channels))

    def forget_stale_nonces() -> None:
        pruned = prune_nonces(factory, settings.webhook, clock())
        log.debug("webhook nonces: %s stale ones forgotten", pruned)

    every = _interval_adder(scheduler, leases)
    # Outbox rows carry their own leases too; the job lease only spares rival dispatchers a wasted run.
    every(
        "dispatch-outbox", settings.dispatcher.interval_seconds, dispatch, settings.dispatcher.lease_seconds
    )
    every("deadline-sweep", settings.escalation.sweep_interval_seconds, sweep_deadlines)
    every("checkin-pings", CHECKIN_SWEEP_SECONDS, checkin_pings)
    every("checkin-reminders", CHECKIN_SWEEP_SECONDS, checkin_reminders)
    every("checkin-knocks", CHECKIN_SWEEP_SECONDS, checkin_knocks)
    # Hourly and idempotent per day, so a restart after the digest hour still sends the day's lists.
    every("visit-digests", 3600, visit_digests)
    every("report-pushes", REPORT_PUSH_SECONDS, report_pushes)
    every(
        RETENTION_JOB,
        settings.retention.sweep_interval_minutes * 60,
        retention_sweep,
        RETENTION_LEASE_SECONDS,
    )
    every("webhook-nonces", NONCE_PRUNE_SECONDS, forget_stale_nonces)
    every("notice-deliveries", NOTICE_DELIVERY_SECONDS, notice_deliveries)
    if not settings.sandbox:
        _add_media_downloads(every, settings, factory, clock)
    return scheduler


AddInterval = Callable[..., None]


def _interval_adder(scheduler: BackgroundScheduler, leases: JobLeases) -> AddInterval:
    """`every(name, seconds, job[, lease_seconds])`: run the job every so often, under its lease."""

    def every(name: str, seconds: float, job: Callable[[], None], lease_seconds: float = 0) -> None:
        scheduler.add_job(
            _leased(leases, name, lease_seconds or SWEEP_LEASE_SECONDS, job),
            "interval",
            seconds=seconds,
            id=name,
            max_instances=1,
            coalesce=True,
        )

    return every


def _leased(leases: JobLeases, name: str, seconds: float, job: Callable[[], None]) -> Callable[[], None]:
    """The job, run only while this process holds its lease; skipped when another process is running it."""

    def run() -> None:
        with leases.held(name, seconds) as mine:
            if mine:
                job()
            else:
                log.debug("%s: another scheduler process is running it", name)

    return run


def _add_media_downloads(
    every: AddInterval, settings: Settings, factory: sessionmaker[Session], clock: Clock
) -> None:
    """Live mode only: save residents' photos and voice before WeChat deletes them."""
    client = official_account_client(settings, factory)

    def download_media() -> None:
        result = download_pending_media(factory, settings, client, clock())
        if result.waiting or result.given_up:
            log.warning("media downloads: %s", result.summary())
        elif result.saved:
            log.info("media downloads: %s", result.summary())

    every("media-downloads", MEDIA_DOWNLOAD_SECONDS, download_media)


def _log_checkins(what: str, result: CheckInResult) -> None:
    if result.failed:
        log.warning("check-in %s: %s", what, result.summary())
    elif result.total:
        log.info("check-in %s: %s", what, result.summary())
