"""Job leases: two scheduler processes (here: threads with engines of their own) never run a job at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import scheduler as scheduler_module
from bot.messenger import ConsoleMessenger
from config.settings import Settings
from handlers.jobs.escalation import SweepResult
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.leases import JobLeases
from storage.models import SchedulerLease
from tests.conftest import make_settings
from tests.support import FakeClock


@pytest.fixture
def lease_settings(tmp_path: Path) -> Settings:
    """Sandbox settings on a migrated temporary database."""
    settings = make_settings(tmp_path)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return settings


@pytest.fixture
def factories(lease_settings: Settings) -> Iterator[list[sessionmaker[Session]]]:
    """Two session factories on separate engines, as two processes would have."""
    engines = [make_engine(lease_settings.database_url) for _ in range(2)]
    yield [make_session_factory(engine) for engine in engines]
    for engine in engines:
        engine.dispose()


def test_of_two_rivals_only_one_takes_a_free_lease(factories) -> None:
    leases = [JobLeases(factory) for factory in factories]
    start = threading.Barrier(2)

    def take(lease: JobLeases) -> bool:
        start.wait()
        return lease.acquire("deadline-sweep", 60)

    with ThreadPoolExecutor(2) as pool:
        taken = list(pool.map(take, leases))
    assert sorted(taken) == [False, True]


def test_a_released_lease_is_free_and_a_dead_holders_lease_runs_out(factories) -> None:
    clock = FakeClock()
    first, second = (JobLeases(factory, clock=clock) for factory in factories)
    with first.held("checkin-pings", 120) as mine:
        assert mine
        assert not second.acquire("checkin-pings", 120)
    assert second.acquire("checkin-pings", 120)  # handed back when the block ended
    # `second` dies without handing it back: nobody gets it until it runs out.
    clock.advance(seconds=119)
    assert not first.acquire("checkin-pings", 120)
    clock.advance(seconds=1)
    assert first.acquire("checkin-pings", 120)
    with transaction(factories[0]) as session:
        row = session.scalars(select(SchedulerLease)).one()
    assert (row.name, row.holder) == ("checkin-pings", first.holder)


def test_release_leaves_a_lease_another_process_took_over_alone(factories) -> None:
    clock = FakeClock()
    slow, rival = (JobLeases(factory, clock=clock) for factory in factories)
    assert slow.acquire("visit-digests", 10)
    clock.advance(seconds=10)
    assert rival.acquire("visit-digests", 10)
    slow.release("visit-digests")  # too late: the lease is the rival's now
    assert not slow.acquire("visit-digests", 10)


def test_two_schedulers_run_the_same_job_once_at_a_time(lease_settings, factories, monkeypatch) -> None:
    """Both schedulers fire the deadline sweep at the same moment: one sweeps, the other skips."""
    running, runs = [], []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def slow_sweep(*_args: object) -> SweepResult:
        with lock:
            running.append(1)
            runs.append(len(running))
        time.sleep(0.3)
        with lock:
            running.pop()
        return SweepResult()

    monkeypatch.setattr(scheduler_module, "sweep", slow_sweep)
    jobs = [
        scheduler_module.build_scheduler(
            lease_settings, factory, ConsoleMessenger(), FakeClock(), None
        ).get_job("deadline-sweep")
        for factory in factories
    ]

    def fire(job) -> None:
        start.wait()
        job.func()

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(fire, jobs))
    assert runs == [1]
    jobs[1].func()  # the lease was handed back: the next run goes ahead
    assert runs == [1, 1]
