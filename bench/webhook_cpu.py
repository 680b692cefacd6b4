"""CPU per message, in one thread without an HTTP server: `uv run python -m bench.webhook_cpu [--count N]`.

The community and messages of bench/webhook.py (a SQLite file in a temporary folder, or a fresh database
on the PostgreSQL server given by --database-url) go through Flask's test client in this process, to
three apps on the same database:

- bare:  a POST route that answers 'success', so what Flask itself costs;
- store: the real webhook and inbox (signature, AES, XML, the de-duplicating INSERT, the commit and
         the encrypted reply) with a handler that only acknowledges: the floor of a durable webhook;
- full:  the real webhook with GridDesk's router (tickets, pushes, check-ins).

Rounds alternate between the three so that a busy machine slows them alike; it prints the median CPU
milliseconds per message (process time) and the SQL statements per message.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, Response
from sqlalchemy import Engine, event, func, select

from bench.checkins import machine
from bench.databases import describe_database, fresh_database
from bench.webhook import Community, Credentials, Shot, plan, prepare, server_env, ticket_texts
from bot.app import create_app
from config.settings import Settings, load_settings
from handlers.context import Incoming, Reply, Services
from handlers.language.intents import IntentClassifier, classifier_for
from storage.db import make_engine, make_session_factory
from storage.models import InboundMessage

ROUNDS = 5
WARMUP = 50
COMMUNITY = 10_000
ACKNOWLEDGED = "已收到"


def main(argv: Sequence[str] | None = None) -> int:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="messages per app, over 5 rounds (1000)")
    parser.add_argument("--database-url", help="a PostgreSQL server and a role that may CREATE DATABASE")
    args = parser.parse_args(argv)
    print(machine())
    with (
        tempfile.TemporaryDirectory(prefix="griddesk-cpu-bench-") as name,
        fresh_database(args.database_url, Path(name)) as database_url,
    ):
        measure(Path(name), database_url, max(ROUNDS, args.count))
    return 0


def measure(folder: Path, database_url: str, count: int) -> None:
    """The three apps, round by round, on one prepared database."""
    credentials = Credentials.made_up()
    settings = load_settings(environ=server_env(database_url, credentials))
    classifier = classifier_for(settings)
    community = Community()
    texts = ticket_texts(classifier)
    loads = {
        target: plan(WARMUP + count, 200.0, community, texts, credentials) for target in ("store", "full")
    }
    prepare(settings, folder, community, COMMUNITY)
    engine = make_engine(database_url)
    try:
        print(
            f"database: {describe_database(database_url)}; {count:,} messages per app after {WARMUP} warm-up"
        )
        apps = build_apps(settings, engine, classifier)
        figures = run_rounds(engine, apps, {**loads, "bare": loads["full"]}, count)
        require_none_failed(engine)
        report(figures)
    finally:
        engine.dispose()


def build_apps(settings: Settings, engine: Engine, classifier: IntentClassifier) -> dict[str, Flask]:
    """bare, store and full, each a whole GridDesk app on the same session factory."""
    factory = make_session_factory(engine)
    full = create_app(settings, factory, classifier)
    full.add_url_rule("/bare", "bare", lambda: Response("success"), methods=["POST"])
    store = create_app(settings, factory, classifier, router=acknowledge)
    return {"bare": full, "store": store, "full": full}


def acknowledge(_services: Services, _incoming: Incoming) -> Reply:
    """The store app's whole handler: no routing, one short reply."""
    return Reply(ACKNOWLEDGED)


@dataclass
class Figures:
    """Per app: CPU milliseconds per message in each round, and SQL statements and messages in all."""

    cpu_ms: dict[str, list[float]] = field(default_factory=dict)
    statements: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)


def run_rounds(engine: Engine, apps: dict[str, Flask], loads: dict[str, list[Shot]], count: int) -> Figures:
    """Warm up each app, then ROUNDS rounds of count/ROUNDS messages each."""
    figures = Figures()
    for target, app in apps.items():
        post_all(app, target, loads[target][:WARMUP])
    size = count // ROUNDS
    for number in range(ROUNDS):
        for target, app in apps.items():
            batch = loads[target][WARMUP + number * size : WARMUP + (number + 1) * size]
            started = time.process_time()
            with counting_statements(engine) as seen:
                post_all(app, target, batch)
            figures.statements[target] += seen[0]
            per_message = (time.process_time() - started) / len(batch) * 1000
            figures.cpu_ms.setdefault(target, []).append(per_message)
            figures.messages[target] += len(batch)
    return figures


def post_all(app: Flask, target: str, shots: list[Shot]) -> None:
    """POST each shot; anything but 200 stops the bench."""
    client = app.test_client()
    path = "/bare" if target == "bare" else "/wechat"
    for shot in shots:
        response = client.post(f"{path}?{shot.query}", data=shot.body)
        if response.status_code != 200:
            raise RuntimeError(f"{target}: HTTP {response.status_code} {response.get_data(as_text=True)}")


def require_none_failed(engine: Engine) -> None:
    """A handler that raised still answers 200 (with an apology): such a run measured the wrong path."""
    with engine.connect() as connection:
        failed = connection.scalar(
            select(func.count()).select_from(InboundMessage).where(InboundMessage.status == "failed")
        )
    if failed:
        raise RuntimeError(f"{failed} messages failed in their handler; see the log above")


def report(figures: Figures) -> None:
    """Median CPU per message against bare, statements per message, and what routing adds."""
    bare = statistics.median(figures.cpu_ms["bare"])
    print(f"\n  {'app':6} {'CPU ms/msg':>11} {'x bare':>7} {'SQL/msg':>8}  rounds min..max")
    for target, values in figures.cpu_ms.items():
        middle = statistics.median(values)
        statements = figures.statements[target] / figures.messages[target]
        print(
            f"  {target:6} {middle:11.2f} {middle / bare:7.1f} {statements:8.1f}"
            f"  {min(values):.2f}..{max(values):.2f}"
        )
    store, full = (statistics.median(figures.cpu_ms[name]) for name in ("store", "full"))
    print(f"  routing (full - store): {full - store:.2f} ms/msg; storing (store - bare): {store - bare:.2f}")


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[int]]:
    """A one-item list counting the SQL statements sent to the database inside the block."""
    seen = [0]

    def tally(*_args: object) -> None:
        seen[0] += 1

    event.listen(engine, "before_cursor_execute", tally)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", tally)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
