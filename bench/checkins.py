"""Check-in sweeps on big registers: `uv run python -m bench.checkins [10k 100k 1M] [--database-url URL]`.

Builds a register per size (a SQLite file in a temporary folder, or with --database-url a fresh
database on a PostgreSQL server): every elder pinged at 09:00, the worst minute; 0.5% not bound to
WeChat; half with a family contact; 300 residents per grid worker. Then times the morning ping sweep
(rows plus outbox pings), its idle re-runs, the call lists, and, after all but N (--missed) elders
have answered, the reminder and the missed check-in (敲门) sweeps. Prints figures; asserts nothing
beyond "every elder got exactly one row".
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, func, insert, select, text

from bench.databases import describe_database, fresh_database
from config.settings import load_settings
from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins import (
    FULL_PASS_MINUTE,
    CheckInResult,
    PingSweep,
    call_list_sweep,
    knock_sweep,
    ping_sweep,
    remind_sweep,
)
from handlers.language.intents import classifier_for
from storage.db import make_engine, make_session_factory, upgrade
from storage.models import Building, CheckIn, FamilyContact, Grid, OutboxMessage, Resident, Worker

PER_WORKER = 300
BUILDINGS_PER_GRID = 3
UNREACHABLE_EVERY = 200  # 0.5% still carry a register placeholder openid
BATCH = 50_000
# 2026-11-24 09:00 in Asia/Shanghai: the morning ping minute.
MORNING = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
T = TypeVar("T")


@dataclass
class Timed:
    """One measured step."""

    label: str
    seconds: float
    detail: str


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark for each register size given (default 10k, 100k, 1M)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", default=["10k", "100k", "1M"], help="e.g. 10k 100k 1M 250000")
    parser.add_argument("--missed", type=int, default=200, help="elders who never answer (default 200)")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server URL to run on (a fresh database is made there per size); default SQLite",
    )
    args = parser.parse_args(argv)
    print(machine())
    if args.database_url:
        print(f"database: {describe_database(args.database_url)}")
    for size in map(parse_size, args.sizes):
        with (
            tempfile.TemporaryDirectory(prefix="griddesk-bench-") as folder,
            fresh_database(args.database_url, Path(folder)) as url,
        ):
            for step in run(url, size, args.missed):
                print(f"  {step.label:<42} {step.seconds:8.2f} s   {step.detail}", flush=True)
    return 0


def parse_size(word: str) -> int:
    """'10k' -> 10000, '1M' -> 1000000, '2500' -> 2500."""
    scale = {"k": 1_000, "m": 1_000_000}.get(word[-1].lower(), 1)
    return int(float(word[:-1] if scale > 1 else word) * scale)


def machine() -> str:
    """CPU, cores, Python and SQLite versions, for the figures to mean something."""
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in cpuinfo.read_text().splitlines()
                if "model name" in line
            ),
            model,
        )
    versions = f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}"
    return f"{model}, {os.cpu_count()} cores; {versions}"


def run(database_url: str, size: int, missed: int) -> Iterator[Timed]:
    """Build one register and time the sweeps on it."""
    settings = load_settings(environ={"GRIDDESK_DATABASE_URL": database_url})
    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"\n{size:,} residents in the check-in population", flush=True)
    seconds, _ = timed(lambda: build_register(engine, size))
    yield Timed("build register (not a sweep)", seconds, f"{size:,} residents, {size // 2:,} family contacts")
    factory = make_session_factory(engine)
    classifier = classifier_for(settings)
    domain = DomainSettings.of(settings)

    scheduled = PingSweep(factory, domain)  # what the scheduler runs every minute
    yield sweep_step("09:00 ping sweep", lambda: scheduled(MORNING), engine)
    assert count(engine, CheckIn) == size, "every elder gets exactly one row"
    yield sweep_step("09:00 ping sweep again (idle)", lambda: ping_sweep(factory, domain, MORNING), engine)
    minute = MORNING + timedelta(minutes=1)
    yield sweep_step("09:01 ping sweep (per minute, idle)", lambda: scheduled(minute), engine)
    full = MORNING + timedelta(minutes=FULL_PASS_MINUTE)
    yield sweep_step("09:07 ping sweep (hourly full pass, idle)", lambda: scheduled(full), engine)
    yield sweep_step("09:00 call lists", lambda: call_list_sweep(factory, domain, MORNING), engine)

    seconds, answered = timed(lambda: answer_all_but(engine, missed))
    yield Timed("setup: all but N answer (not a sweep)", seconds, f"{answered:,} answered")
    reminder_at = MORNING + timedelta(minutes=settings.checkins.reminder_after_minutes)
    yield sweep_step("11:00 reminder sweep", lambda: remind_sweep(factory, domain, reminder_at), engine)
    knock_at = reminder_at + timedelta(minutes=settings.checkins.knock_after_minutes)
    yield sweep_step(
        "13:00 missed check-in sweep (knocks)",
        lambda: knock_sweep(factory, domain, classifier, knock_at),
        engine,
    )
    yield sweep_step(
        "13:00 missed sweep again (idle)",
        lambda: knock_sweep(factory, domain, classifier, knock_at),
        engine,
    )
    engine.dispose()


def sweep_step(label: str, sweep: Callable[[], CheckInResult], engine: Engine) -> Timed:
    """Time one sweep and say what it did and how many outbox rows it wrote."""
    before = count(engine, OutboxMessage)
    seconds, result = timed(sweep)
    written = count(engine, OutboxMessage) - before
    return Timed(label, seconds, f"{result.summary() or 'nothing due'}; outbox +{written:,}")


def timed(work: Callable[[], T]) -> tuple[float, T]:
    """Wall-clock seconds of one call, and its result."""
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def count(engine: Engine, model: Any) -> int:
    """Rows in a table."""
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model)) or 0


def build_register(engine: Engine, size: int) -> None:
    """Workers, grids, buildings, residents and family contacts, in bulk (SQLAlchemy Core, any database)."""
    workers = max(1, -(-size // PER_WORKER))
    created = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(Worker),
            [
                {
                    "id": n,
                    "name": f"网格员{n}",
                    "phone": f"139{n:08d}",
                    "role": "worker",
                    "on_duty": True,
                    "openid": f"bench-worker-{n}",
                }
                for n in range(1, workers + 1)
            ],
        )
        connection.execute(
            insert(Grid),
            [{"id": n, "code": f"G{n}", "name": f"第{n}网格", "worker_id": n} for n in range(1, workers + 1)],
        )
        connection.execute(
            insert(Building),
            [
                {"id": n, "name": f"{n}号楼", "grid_id": (n - 1) // BUILDINGS_PER_GRID + 1}
                for n in range(1, workers * BUILDINGS_PER_GRID + 1)
            ],
        )
        for rows in batches(resident_rows(size, workers * BUILDINGS_PER_GRID, created)):
            connection.execute(insert(Resident), rows)
        family = (
            {
                "resident_id": n,
                "name": f"家属{n}",
                "relation": "子女",
                "phone": f"137{n:08d}",
                "openid": f"bench-family-{n}",
            }
            for n in range(1, size + 1, 2)
        )
        for rows in batches(family):
            connection.execute(insert(FamilyContact), rows)
        if (
            engine.dialect.name == "postgresql"
        ):  # rows above carry their own ids: move the sequences past them
            for table in ("workers", "grids", "buildings", "residents"):
                connection.exec_driver_sql(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")


def resident_rows(size: int, buildings: int, created: datetime) -> Iterator[dict[str, object]]:
    """One row per elder, spread over the buildings, each pinged at 09:00."""
    for n in range(1, size + 1):
        openid = f"register:{n}" if n % UNREACHABLE_EVERY == 0 else f"bench-resident-{n}"
        yield {
            "id": n,
            "openid": openid,
            "name": f"居民{n}",
            "phone": f"138{n:08d}",
            "building_id": (n - 1) % buildings + 1,
            "unit": str(n % 6 + 1),
            "room": str(n % 1000),
            "household_category": "ordinary",
            "lives_alone": True,
            "subscribed": True,
            "checkin_minute": 540,
            "created_at": created,
            # Wrote last evening: the 48-hour window is open, so the ping goes (never as a template).
            "last_message_at": MORNING - timedelta(hours=12),
        }


def batches(rows: Iterator[T]) -> Iterator[list[T]]:
    """Chunks of BATCH rows."""
    chunk: list[T] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def answer_all_but(engine: Engine, missed: int) -> int:
    """Every pinged elder answers except the last `missed` of them."""
    with engine.begin() as connection:
        keep = connection.scalar(
            text("SELECT id FROM checkins WHERE status = 'pinged' ORDER BY id DESC LIMIT 1 OFFSET :n"),
            {"n": max(0, missed - 1)},
        )
        if keep is None:
            return 0
        result = connection.execute(
            text(
                "UPDATE checkins SET status = 'answered', answered_at = pinged_at"
                " WHERE status = 'pinged' AND id < :keep"
            ),
            {"keep": keep},
        )
        return result.rowcount


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
