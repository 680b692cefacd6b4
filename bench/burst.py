"""A burst of new tickets: `uv run python -m bench.burst [--count 3000] [--rate 300] [--database-url URL]`.

What issue 15 asks of a storm (a power cut, a burst pipe in a building): 3,000 distinct new-ticket
messages at 300 a second for 10 s. GridDesk runs as in production: gunicorn (bench/webhook_server.py,
`run.py serve --workers`' app, whose workers also run the inbox workers) in safe mode (AES), and
`run.py scheduler` (the outbox dispatcher) in a process of its own, both live (an app secret) against
tests/fakewechat.py on loopback (bench/fake_wechat.py, a third process). The overload queue is on at
its default setting ([inbox] queue_after_seconds). Database: a fresh SQLite file, or with
--database-url a fresh database on that PostgreSQL server.

The senders are residents who wrote just now (their 48-hour customer-service window is open), each
sending one repair, one bill and one medicine message, about count/3/rate seconds apart. The bench waits
until every queued message is finished and every receipt sent, then prints: replies within and past
WeChat's 5 s, how many were queued, lost (no ticket), duplicated (a second ticket for one message),
shared (one ticket for two messages), receipts (each queued message's reply push: exactly one, sent, and
delivered to that resident by the fake WeChat with the message's ticket number; none for a message
answered at once, whose passive reply carried the number), and the time from the first message to the
last receipt delivered. Exits 1 when any of these is wrong.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bench.checkins import machine
from bench.databases import describe_database, in_fresh_database
from bench.fake_wechat import TEMPLATE_IDS, Delivery, FakeProcess, fake_wechat
from bench.load import WECHAT_WAIT_SECONDS, Outcome, percentile, summarize
from bench.webhook import (
    CATEGORIES,
    MIN_COMMUNITY,
    QUEUED_REPLIES,
    QUICK_COMMUNITY,
    TICKET_NUMBER,
    Community,
    Credentials,
    Shot,
    answered,
    decrypted,
    free_port,
    load_average,
    own_cpu_seconds,
    prepare,
    report_server_log,
    send,
    server_env,
    signed,
    ticket_texts,
)
from bench.webhook_server import gunicorn, stop_process_group
from config.settings import PROJECT_ROOT, load_settings
from handlers.language.intents import classifier_for
from storage.db import make_engine
from storage.inbox_queue import WAITING
from storage.models import InboundMessage, OutboxMessage, Ticket

WARMUP_MESSAGES = 30
WARMUP_CLIENTS = 8
# Enough sender threads that replies taking seconds do not hold back the next sends (WeChat does not wait).
SENDERS = 1024
APP_SECRET = "bench-app-secret"
# How long the bench waits for the inbox workers and the dispatcher to finish after the burst.
FINISH_SECONDS = 900.0
PROGRESS_EVERY_SECONDS = 15.0
SCHEDULER_BOOT_SECONDS = 60.0


def main(argv: Sequence[str] | None = None) -> int:
    """Set up, burst, wait for every receipt, verify, report."""
    args = parse_args(argv)
    heading = machine() + f"; nproc {len(os.sched_getaffinity(0))}; load average {load_average()}"
    return in_fresh_database(
        "griddesk-burst-bench-",
        args.database_url,
        lambda folder, url: run(args, folder, url),
        stopped="servers stopped",
        heading=heading,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; --quick is a smoke run of 600 messages at the same rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="messages in the burst (3000)")
    parser.add_argument("--rate", type=float, default=300.0, help="messages a second (300)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (nproc)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4, as run.py serve)")
    parser.add_argument(
        "--senders", type=int, default=SENDERS, help=f"the load's threads, one request at a time ({SENDERS})"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server and a role that may CREATE DATABASE; the bench uses a fresh database there",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 600 messages")
    args = parser.parse_args(argv)
    if args.quick:
        args.count = 600
    if min(args.count, args.workers, args.threads, args.senders) < 1 or args.rate <= 0:
        parser.error("--count, --rate, --workers, --threads and --senders must be more than 0")
    return args


def run(args: argparse.Namespace, folder: Path, database_url: str) -> int:
    """The whole bench on one database: returns the exit status."""
    credentials = Credentials.made_up()
    classifier = classifier_for(load_settings(environ=server_env(database_url, credentials)))
    community = Community()
    texts = ticket_texts(classifier)
    warmup = burst_plan(WARMUP_MESSAGES, args.rate, community, texts, credentials)
    burst = burst_plan(args.count, args.rate, community, texts, credentials)
    writers = [f"bench-resident-{n}" for n in range(1, community.writers + 1)]
    size = max(QUICK_COMMUNITY if args.quick else MIN_COMMUNITY, community.writers)
    print(f"database: {describe_database(database_url)}")
    with fake_wechat(folder, credentials.appid, APP_SECRET, writers) as fake:
        env = live_env(database_url, credentials, fake, folder)
        settings = load_settings(environ=env)
        prepare(settings, folder, community, size)
        port = free_port()
        print(
            f"server:   gunicorn, {args.workers} gthread workers x {args.threads} threads (each with"
            f" {settings.inbox.workers} inbox worker), safe mode (AES), live against a fake WeChat on port"
            f" {fake.port}; overload queue after {settings.inbox.queue_after_seconds:g} s; `run.py"
            f" scheduler` dispatching every {settings.dispatcher.interval_seconds:g} s, up to"
            f" {settings.dispatcher.batch_size} a run",
            flush=True,
        )
        with gunicorn(folder, env, port, args.workers, args.threads) as server, scheduler(folder, env):
            warm = send(port, "/wechat", warmup, WARMUP_CLIENTS, paced=False)
            server.wait_idle()
            print(
                f"bursting {len(burst):,} messages at {args.rate:g}/s from {args.senders} sender threads,"
                f" a new connection each (load average {load_average()})...",
                flush=True,
            )
            started, cpu = time.time(), (server.cpu_seconds(), own_cpu_seconds())
            outcomes = send(port, "/wechat", burst, args.senders, paced=True)
            cpu = (server.cpu_seconds() - cpu[0], own_cpu_seconds() - cpu[1])
            finished = wait_until_done(database_url, started)
        report_server_log(server.log, "GridDesk's server log")
        report_server_log(folder / "scheduler.log", "the scheduler's log")
    assert fake.deliveries is not None
    failures = report_replies(burst, outcomes, started, finished)
    print(
        f"  CPU while the burst was sent (its {max(s.at for s in burst):.1f} s and its answers): gunicorn's"
        f" processes {cpu[0]:.1f} s, the bench's own {cpu[1]:.1f} s, of {os.cpu_count()} cores"
    )
    sent = list(zip([*warmup, *burst], [*warm, *outcomes], strict=True))
    failures += verify(database_url, sent, credentials, fake.deliveries, started)
    print(f"load average at the end: {load_average()}")
    print("burst: " + ("all correct" if not failures else "WRONG: " + "; ".join(failures)))
    return 1 if failures else 0


def burst_plan(
    count: int, rate: float, community: Community, texts: dict[str, Iterator[str]], credentials: Credentials
) -> list[Shot]:
    """`count` new tickets 1/rate apart; each writer sends one per category, a third of the run apart."""
    writers = community.take_writers(max(1, math.ceil(count / len(CATEGORIES))))
    shots = []
    for slot in range(count):
        writer = writers[slot % len(writers)]
        category = CATEGORIES[slot // len(writers)]
        openid = f"bench-resident-{writer}"
        shots.append(signed("ticket", openid, next(texts[category]), category, slot / rate, credentials))
    return shots


def live_env(database_url: str, credentials: Credentials, fake: FakeProcess, folder: Path) -> dict[str, str]:
    """The bench's settings, live: an app secret, the WeChat API and templates at the fake."""
    templates = {f"GRIDDESK_TEMPLATES_{name.upper()}_ID": tid for name, tid in TEMPLATE_IDS.items()}
    return (
        server_env(database_url, credentials)
        | templates
        | {
            "GRIDDESK_WECHAT_SECRET": APP_SECRET,
            "GRIDDESK_DELIVERY_API_BASE_URL": fake.mp_base_url,
            "GRIDDESK_DELIVERY_MEDIA_DIR": str(folder / "media"),
            "GRIDDESK_SPOOL_DIR": str(folder / "spool"),
        }
    )


@contextmanager
def scheduler(folder: Path, env: dict[str, str]) -> Iterator[None]:
    """`run.py scheduler` in its own process group, stopped however the bench ends."""
    log_path = folder / "scheduler.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "run.py", "scheduler"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + SCHEDULER_BOOT_SECONDS
            while "GridDesk scheduler:" not in log_path.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"run.py scheduler did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield
        finally:
            stop_process_group(process)


def wait_until_done(database_url: str, started: float) -> float:
    """Wait until no message is queued and no receipt is left to send; when that was (Unix time)."""
    engine = make_engine(database_url)
    last_said = time.monotonic()
    try:
        while True:
            with engine.connect() as connection:
                waiting = connection.scalar(
                    select(func.count()).select_from(InboundMessage).where(InboundMessage.status.in_(WAITING))
                )
                unsent = connection.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.kind == "reply", OutboxMessage.status == "pending")
                )
            if not waiting and not unsent:
                return time.time()
            if time.time() - started > FINISH_SECONDS:
                print(
                    f"gave up waiting after {FINISH_SECONDS:g} s: {waiting} queued, {unsent} receipts unsent"
                )
                return time.time()
            if time.monotonic() - last_said > PROGRESS_EVERY_SECONDS:
                seconds = time.time() - started
                print(f"  {seconds:5.0f} s: {waiting:,} messages queued, {unsent:,} receipts to send")
                last_said = time.monotonic()
            time.sleep(0.5)
    finally:
        engine.dispose()


# What the residents saw


def report_replies(burst: list[Shot], outcomes: list[Outcome], started: float, finished: float) -> list[str]:
    """The passive replies' figures: answered within and past WeChat's 5 s, latency; what is wrong."""
    s = summarize(outcomes, answered)
    print(
        f"\nburst: {s.sent:,} messages at {len(burst) / max(shot.at for shot in burst):.0f}/s over"
        f" {max(shot.at for shot in burst):.1f} s; the last queued message finished and receipt sent"
        f" {finished - started:.1f} s after the first message"
    )
    print(
        f"  passive replies: {s.sent - s.errors:,} answered, {s.sent - s.errors - s.late:,} within"
        f" {WECHAT_WAIT_SECONDS:g} s, {s.late:,} past {WECHAT_WAIT_SECONDS:g} s (WeChat had given up and"
        f" would retry), {s.errors:,} unanswered; latency from when each was due: p50 {s.p50_ms:.0f} ms,"
        f" p99 {s.p99_ms:.0f} ms, max {s.max_ms:.0f} ms; sends started late by up to {s.lag_p99_ms:.0f} ms"
        " (p99)"
    )
    failures = []
    if s.late or s.errors:
        failures.append(f"{s.late + s.errors} replies past {WECHAT_WAIT_SECONDS:g} s or never")
    return failures


# What the database and the fake WeChat hold


@dataclass(frozen=True)
class Row:
    """A stored inbound message."""

    id: int
    ticket_id: int | None
    status: str
    reply: str | None


@dataclass(frozen=True)
class Stored:
    """What the database holds after the burst."""

    messages: dict[str, Row]  # by dedup key
    receipts: dict[int, list[tuple[str, str]]]  # message id -> (status, text) of its `reply` pushes
    tickets: int
    duplicates: int  # (resident, category) with more than one ticket: each writer sent one per category


def read_stored(database_url: str) -> Stored:
    """Messages, receipts and tickets, read once after everything is done."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            columns = (
                InboundMessage.id,
                InboundMessage.ticket_id,
                InboundMessage.status,
                InboundMessage.reply,
            )
            messages = {
                key: Row(*row) for key, *row in connection.execute(select(InboundMessage.dedup_key, *columns))
            }
            receipts: dict[int, list[tuple[str, str]]] = defaultdict(list)
            pushes = select(OutboxMessage.message_id, OutboxMessage.status, OutboxMessage.text)
            for message_id, status, text in connection.execute(pushes.where(OutboxMessage.kind == "reply")):
                receipts[message_id].append((status, text))
            pairs = select(Ticket.resident_id, Ticket.category).group_by(Ticket.resident_id, Ticket.category)
            twice = pairs.having(func.count() > 1).subquery()
            return Stored(
                messages=messages,
                receipts=receipts,
                tickets=connection.scalar(select(func.count()).select_from(Ticket)) or 0,
                duplicates=connection.scalar(select(func.count()).select_from(twice)) or 0,
            )
    finally:
        engine.dispose()


@dataclass
class Tally:
    """The database check's counts over every message sent (warm-up and burst)."""

    sent: int = 0
    queued: int = 0
    inline: int = 0  # answered at once with the ticket number, no receipt push
    lost: int = 0
    wrong_reply: int = 0
    receipts_wrong: int = 0
    receipt_delays: list[float] | None = None


def verify(
    database_url: str,
    sent: list[tuple[Shot, Outcome]],
    credentials: Credentials,
    deliveries: list[Delivery],
    started: float,
) -> list[str]:
    """Every message has exactly one ticket and one receipt (passive, or pushed and delivered)."""
    stored = read_stored(database_url)
    delivered = _deliveries_by_ticket(deliveries)
    owners = Counter(row.ticket_id for row in stored.messages.values() if row.ticket_id is not None)
    tally = Tally(receipt_delays=[])
    for shot, outcome in sent:
        tally.sent += 1
        row = stored.messages.get(f"msg:{shot.msg_id}")
        if row is None or row.ticket_id is None or row.status != "handled":
            tally.lost += 1
            continue
        reply = decrypted(outcome, credentials)
        if reply is not None and reply != row.reply:
            tally.wrong_reply += 1
        if row.reply in QUEUED_REPLIES:
            tally.queued += 1
            at = _receipt_delivered(row, stored, delivered.get((shot.openid, row.ticket_id), []))
            if at is None:
                tally.receipts_wrong += 1
            else:
                tally.receipt_delays.append(at - (started + shot.at))
        elif stored.receipts.get(row.id) or _numbers(row.reply) != {row.ticket_id}:
            tally.receipts_wrong += 1  # answered at once: the passive reply was the receipt
        else:
            tally.inline += 1
    residents = sum(1 for d in deliveries if d.to.startswith("bench-resident-"))
    return report_checks(tally, stored, owners, residents, started, deliveries)


def _deliveries_by_ticket(deliveries: list[Delivery]) -> dict[tuple[str, int], list[float]]:
    """When each resident was delivered a message naming each ticket number."""
    found: dict[tuple[str, int], list[float]] = defaultdict(list)
    for delivery in deliveries:
        for number in _numbers(delivery.text):
            found[delivery.to, number].append(delivery.at)
    return found


def _numbers(text: str | None) -> set[int]:
    """The ticket numbers ('#12') a text names."""
    return {int(number) for number in TICKET_NUMBER.findall(text or "")}


def _receipt_delivered(row: Row, stored: Stored, times: list[float]) -> float | None:
    """When a queued message's receipt reached its sender: stored once, sent, delivered once; else None."""
    receipts = stored.receipts.get(row.id, [])
    if len(receipts) != 1 or len(times) != 1:
        return None
    status, text = receipts[0]
    return times[0] if status == "sent" and row.ticket_id in _numbers(text) else None


def report_checks(
    tally: Tally,
    stored: Stored,
    owners: Counter[int | None],
    residents: int,
    started: float,
    deliveries: list[Delivery],
) -> list[str]:
    """Print the database check and the receipts' timing; return what is wrong."""
    shared = sum(1 for count in owners.values() if count > 1)
    delays = sorted(tally.receipt_delays or [])
    print(
        f"database check ({tally.sent:,} messages, the warm-up's included):"
        f" {tally.sent - tally.lost:,} with a ticket, {tally.lost} lost (no ticket, or not finished);"
        f" {stored.tickets:,} tickets; duplicated (a second ticket of one resident and category):"
        f" {stored.duplicates}; tickets named by two messages: {shared}; passive replies differing from"
        f" the stored one: {tally.wrong_reply}"
    )
    print(
        f"  queued under overload: {tally.queued:,}, of them with exactly one receipt push, sent, and"
        f" delivered once to its sender with its ticket number: {len(delays):,}; answered at once with the"
        f" ticket number and no receipt push: {tally.inline:,}; messages delivered to residents:"
        f" {residents:,}; receipts wrong or missing: {tally.receipts_wrong}"
    )
    if delays:
        last = max(d.at for d in deliveries if d.to.startswith("bench-resident-"))
        print(
            f"  receipts: the last delivered {last - started:.1f} s after the first message was due; from"
            f" each message to its receipt p50 {percentile(delays, 0.5):.1f} s, p99"
            f" {percentile(delays, 0.99):.1f} s, max {delays[-1]:.1f} s"
        )
    failures = []
    if tally.lost:
        failures.append(f"{tally.lost} messages lost")
    if stored.duplicates or shared or stored.tickets > tally.sent:
        failures.append("duplicate tickets")
    if tally.receipts_wrong or tally.wrong_reply or residents != tally.queued:
        failures.append("receipts missing, twice, or wrong")
    return failures


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
