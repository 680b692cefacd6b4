"""The scheduler runs the outbox dispatcher and the deadline sweep, and only speaks up when a sweep acted."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from bot import scheduler as scheduler_module
from bot.media_store import MediaRun
from bot.messenger import ConsoleMessenger
from config.settings import load_settings
from handlers.jobs.escalation import SweepResult
from tests.support import FakeClock


class FreeLeases:
    """Job leases that are always free, so these tests need no database."""

    def __init__(self) -> None:
        self.taken: list[tuple[str, float]] = []

    @contextmanager
    def held(self, name: str, seconds: float) -> Iterator[bool]:
        self.taken.append((name, seconds))
        yield True


@pytest.fixture
def scheduler() -> BackgroundScheduler:
    """A scheduler built from the documented defaults, never started; nothing here touches a database."""
    settings = load_settings(environ={})
    return scheduler_module.build_scheduler(
        settings, None, ConsoleMessenger(), FakeClock(), None, leases=FreeLeases()
    )


def test_the_deadline_sweep_runs_every_minute_one_at_a_time(scheduler) -> None:
    job = scheduler.get_job("deadline-sweep")
    assert job.trigger.interval == timedelta(seconds=60)
    assert (job.max_instances, job.coalesce) == (1, True)
    assert scheduler.get_job("dispatch-outbox") is not None


def test_the_sweep_logs_only_when_it_did_something(scheduler, monkeypatch, caplog) -> None:
    results = iter([SweepResult(), SweepResult(escalated=2, warned=1)])
    monkeypatch.setattr(scheduler_module, "sweep", lambda *args: next(results))
    job = scheduler.get_job("deadline-sweep")
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        job.func()
        assert caplog.messages == []
        job.func()
    assert caplog.messages == ["deadline sweep: warned=1 escalated=2"]


def test_media_downloads_run_every_minute_in_live_mode_only(scheduler, monkeypatch, caplog) -> None:
    assert scheduler.get_job("media-downloads") is None
    live = load_settings(
        environ={"GRIDDESK_WECHAT_APPID": "wx0123456789abcdef", "GRIDDESK_WECHAT_SECRET": "secret"}
    )
    leases = FreeLeases()
    built = scheduler_module.build_scheduler(live, None, ConsoleMessenger(), FakeClock(), None, leases=leases)
    job = built.get_job("media-downloads")
    assert job.trigger.interval == timedelta(seconds=60)
    assert (job.max_instances, job.coalesce) == (1, True)
    monkeypatch.setattr(scheduler_module, "download_pending_media", lambda *args: MediaRun(waiting=1))
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        job.func()
    assert caplog.messages == ["media downloads: waiting=1"]
    assert leases.taken == [("media-downloads", scheduler_module.SWEEP_LEASE_SECONDS)]
