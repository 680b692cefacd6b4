"""Residents' messages during the morning ping sweep: `uv run python -m bench.message_during_sweep
[--size 1M] [--every 0.5] [--database-url URL]`.

Builds the check-in register of bench/checkins.py, then, in one run, sends elders' signed messages
through the real webhook every `--every` seconds: first with no sweep running (the baseline), then
while the 09:00 ping sweep runs in a thread of the same process (it shares the webhook's writer
lock, as `run.py serve` does), then, after its rows are deleted again, while it runs in another
process (as `run.py scheduler` beside gunicorn workers does). Prints how long each sweep took and
the answer times of the messages in each phase, with the machine's load average.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from bench.checkins import MORNING, build_register, parse_size
from bench.databases import describe_database, fresh_database
from bot.app import create_app
from bot.simulator import read_reply, sign, text_xml
from config.settings import Settings, load_settings
from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins import ping_sweep
from handlers.language.intents import classifier_for
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.models import CheckIn, OutboxMessage

BASELINE_MESSAGES = 20


@dataclass
class Phase:
    """One phase of the run: how long its sweep took (if any) and its messages' answer times."""

    label: str
    sweep_seconds: float | None
    answers: list[float]
    replies: set[str]

    def line(self) -> str:
        """The phase in one line of figures."""
        ms = sorted(seconds * 1000 for seconds in self.answers)
        sweep = f"sweep {self.sweep_seconds:6.1f} s" if self.sweep_seconds is not None else "no sweep     "
        figures = (
            f"median {statistics.median(ms):5.0f} ms, p90 {ms[int(len(ms) * 0.9)]:5.0f} ms, "
            f"max {ms[-1]:5.0f} ms"
        )
        return f"  {self.label:<34} {sweep}   {len(ms):3} messages: {figures}"


def main(argv: Sequence[str] | None = None) -> int:
    """Build the register, measure the three phases, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=parse_size("100k"))
    parser.add_argument("--every", type=float, default=0.5, help="seconds between messages (0.5)")
    parser.add_argument("--slice", type=int, help="elders per slice (default: checkins.sweep_slice_size)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: a SQLite file)")
    args = parser.parse_args(argv)
    print(f"load average before: {_load()}", flush=True)
    with tempfile.TemporaryDirectory() as folder, fresh_database(args.database_url, Path(folder)) as url:
        print(describe_database(url), flush=True)
        settings = _settings(url, args.slice)
        print(f"{args.size:,} elders, slices of {settings.checkins.sweep_slice_size:,}", flush=True)
        for phase in measure(settings, args.size, args.every):
            print(phase.line(), flush=True)
            print(f"    replies: {' | '.join(sorted(phase.replies))}", flush=True)
    print(f"load average after: {_load()}")
    return 0


def _settings(url: str, slice_size: int | None) -> Settings:
    """Sandbox settings on the bench database, with the slice size asked for."""
    settings = load_settings(environ={"GRIDDESK_DATABASE_URL": url})
    if slice_size is None:
        return settings
    return replace(settings, checkins=replace(settings.checkins, sweep_slice_size=slice_size))


def _load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def measure(settings: Settings, size: int, every: float) -> Iterator[Phase]:
    """The baseline, the sweep in a thread, and the sweep in another process, one after the other."""
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        build_register(engine, size)
        print(f"  register built in {time.perf_counter() - started:.1f} s", flush=True)
        factory = make_session_factory(engine)
        app = create_app(settings, factory, classifier_for(settings), lambda: MORNING)
        client = app.test_client()
        senders = (f"bench-resident-{n}" for n in range(size - 1, 0, -1) if n % 200)
        msg_ids = iter(range(1, 10**9))

        def send() -> tuple[float, str]:
            body = text_xml(next(senders), "楼道灯坏了", msg_id=next(msg_ids))
            signed = sign(settings.wechat.token, body, timestamp=int(MORNING.timestamp()))
            started = time.perf_counter()
            response = client.post("/wechat", query_string=signed.params, data=signed.body)
            reply = read_reply(response.get_data(as_text=True)) or "(no reply)"
            return time.perf_counter() - started, re.sub(r"\d+", "N", reply.splitlines()[0])

        send()  # warm up: first statements, first connection
        answers, replies = _messages(send, every, lambda sent: sent >= BASELINE_MESSAGES)
        yield Phase("no sweep (baseline)", None, answers, replies)

        swept: list[float] = []
        thread = threading.Thread(target=lambda: swept.append(_timed_sweep(factory, settings)))
        thread.start()
        answers, replies = _messages(send, every, lambda sent: not thread.is_alive())
        thread.join()
        yield Phase("sweep in a thread of this process", swept[0], answers, replies)

        _forget_the_sweep(factory)
        context = multiprocessing.get_context("spawn")
        results, sweeping = context.Queue(), context.Event()
        process = context.Process(target=_sweep_process, args=(settings, results, sweeping))
        process.start()
        sweeping.wait()  # not while the process is still starting: that is no sweep yet
        answers, replies = _messages(send, every, lambda sent: not process.is_alive())
        process.join()
        yield Phase("sweep in another process", results.get(), answers, replies)
    finally:
        engine.dispose()


def _messages(
    send: Callable[[], tuple[float, str]], every: float, done: Callable[[int], bool]
) -> tuple[list[float], set[str]]:
    """Send a message every `every` seconds until `done(sent)`; their answer times and replies."""
    answers: list[float] = []
    replies: set[str] = set()
    next_at = time.perf_counter()
    while not done(len(answers)):
        seconds, reply = send()
        answers.append(seconds)
        replies.add(reply)
        next_at += every
        time.sleep(max(0.0, next_at - time.perf_counter()))
    return answers, replies


def _timed_sweep(factory: sessionmaker[Session], settings: Settings) -> float:
    """Run the 09:00 ping sweep; its wall-clock seconds."""
    started = time.perf_counter()
    ping_sweep(factory, DomainSettings.of(settings), MORNING)
    return time.perf_counter() - started


def _sweep_process(settings: Settings, results: multiprocessing.Queue, sweeping: Any) -> None:
    """The sweep in another process, as the scheduler runs it beside the web workers."""
    engine = make_engine(settings.database_url)
    try:
        sweeping.set()
        results.put(_timed_sweep(make_session_factory(engine), settings))
    finally:
        engine.dispose()


def _forget_the_sweep(factory: sessionmaker[Session]) -> None:
    """Delete the check-ins and pings the sweep wrote, so the next phase sweeps the whole register again."""
    with transaction(factory) as session:
        session.execute(delete(OutboxMessage).where(OutboxMessage.kind == "checkin_ping"))
        session.execute(delete(CheckIn))


if __name__ == "__main__":
    raise SystemExit(main())
