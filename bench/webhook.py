"""The webhook under load: `uv run python -m bench.webhook [--rates 100,150,200] [--seconds 30] [--quick]`.

Starts GridDesk under gunicorn on loopback (bench/webhook_server.py: the production app plus a bare
POST /bare in the same workers), and WeRoBot's echo under the same gunicorn settings on another port,
all in safe (AES) mode with the same made-up credentials, on a fresh SQLite file in a temporary folder
or, with --database-url, a fresh database created on that PostgreSQL server.
The community: 300 bound residents per grid worker, elders living alone pinged by the check-in sweep
before the load. The load: signed, encrypted resident messages, each sender at most 3 a minute: new
tickets (repair, bill, medicine), WeChat's retries (the same MsgId at the same instant, or seconds
later) and elders answering "1". It measures open-loop runs at fixed rates (latency counted from
each request's scheduled send time, so a slow server cannot slow the load down), /bare then /wechat at
each rate, and a closed-loop saturation run of /bare, WeRoBot's echo and /wechat on the same messages,
with the ratios between them; then checks that every answered new-ticket message has exactly one
ticket and that WeRoBot's every reply decrypts to the text it was sent. Prints figures; exits 1 when a
correctness check fails.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import math
import os
import re
import resource
import secrets
import socket
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import Select, Subquery, func, insert, select

from bench.checkins import machine
from bench.databases import describe_database, in_fresh_database
from bench.load import DROPPED, WECHAT_WAIT_SECONDS, Outcome, Request, Summary, drive, summarize
from bench.webhook_server import Server, gunicorn
from bot.app import QUEUED
from bot.simulator import read_reply, sign, text_xml
from config.settings import Settings, load_settings
from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins import OK_REPLY, local_moment, ping_sweep
from handlers.language.intents import IntentClassifier, classifier_for
from handlers.language.normalize import normalize
from handlers.messages.binding import looks_like_binding
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.demo import load_community
from storage.inbox_queue import WAITING
from storage.models import Building, CheckIn, InboundMessage, OutboxMessage, Resident, Ticket

PER_WORKER = 300
BUILDINGS_PER_GRID = 3
GRIDS_PER_LEADER = 5
MIN_COMMUNITY = 10_000
QUICK_COMMUNITY = 2_000
CATEGORIES = ("repair", "bill", "medicine")
# Twenty slots of load: 16 new tickets, a retry at the same instant as the ticket before it (R), a
# retry of a ticket sent about LATE_RETRY_SECONDS earlier (L), 2 elders answering their check-in (C).
PATTERN = "TTTTRTTTCTTTLTTTTCTT"
LATE_RETRY_SECONDS = 2.0
# Elders pinged this morning who stay silent during the run, per one who answers.
SILENT_ELDERS = 0.25
WARMUP_MESSAGES = 100
OPEN_LOOP_SENDERS = 128
# Twice WeChat's 5 seconds: the bench waits this long for an answer, and gives up on sending a request
# that is this far behind its schedule (counted as dropped).
REQUEST_TIMEOUT_SECONDS = 10.0
# Issue 15's goals: p99 under 100 ms at 150 msg/s open loop; in the closed loop, GridDesk at least
# 0.15 of bare Flask's rate and a quarter of WeRoBot's echo, in the same run.
P99_GOAL_MS = 100.0
P99_GOAL_RATE = 150.0
BARE_RATIO_GOAL = 0.15
WEROBOT_RATIO_GOAL = 0.25
DEFAULT_RATES = (100.0, 150.0, 200.0)
TICKET_NUMBER = re.compile(r"#(\d+)")

# What a message answered at once and finished later is told: a request is promised its ticket number.
QUEUED_REPLIES = frozenset({QUEUED.message, QUEUED.request})


@dataclass(frozen=True)
class Shot:
    """One POST of the load: what it stands for, and the signed, encrypted request WeChat would send."""

    kind: str  # "ticket", "retry" (of a ticket) or "checkin"
    msg_id: int
    openid: str
    category: str | None
    query: str
    body: bytes
    at: float = 0.0  # seconds after the start of an open-loop run
    text: str = ""  # what the message says (WeRoBot's echo must give it back)


@dataclass(frozen=True)
class Figures:
    """One run summed up, with the CPU each message cost the server and the bench."""

    label: str
    loop: str  # "open" or "closed"
    target: str  # "full" (/wechat), "bare" or "werobot"
    summary: Summary
    server_cpu_ms: float
    bench_cpu_ms: float
    rate: float = 0.0  # an open loop's messages a second
    queued: int = 0  # /wechat's answers that said the message was queued under overload


@dataclass(frozen=True)
class Credentials:
    """The Official Account the bench makes up: token, appid and EncodingAESKey."""

    token: str
    appid: str
    aes_key: str

    @classmethod
    def made_up(cls) -> Credentials:
        """Random ones, so nothing real is ever needed or printed."""
        aes_key = base64.b64encode(secrets.token_bytes(32)).decode()[:43]
        return cls(secrets.token_hex(16), "wx" + secrets.token_hex(8), aes_key)


@dataclass
class Community:
    """Residents handed out to the load, numbered from 1; bystanders never write."""

    writers: int = 0
    elders: int = 0

    def take_writers(self, count: int) -> range:
        """The next `count` residents who send new tickets."""
        start = self.writers + 1
        self.writers += count
        return range(start, start + count)

    def take_elders(self, count: int) -> range:
        """The next `count` elders who answer their check-in."""
        start = self.elders + 1
        self.elders += count
        return range(start, start + count)


@dataclass
class Load:
    """Everything sent to /wechat, by phase, for the correctness checks afterwards."""

    phases: dict[str, list[Shot]] = field(default_factory=dict)
    outcomes: list[tuple[Shot, Outcome]] = field(default_factory=list)
    echoes: list[tuple[Shot, Outcome]] = field(default_factory=list)  # WeRoBot's answers


def main(argv: Sequence[str] | None = None) -> int:
    """Set up, load, measure, verify, report."""
    args = parse_args(argv)
    heading = machine() + f"; nproc {len(os.sched_getaffinity(0))}; load average {load_average()}"
    return in_fresh_database(
        "griddesk-webhook-bench-",
        args.database_url,
        lambda folder, url: run(args, folder, url),
        stopped="gunicorn stopped",
        heading=heading,
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; --quick shrinks the runs to a smoke test (2 s open loop, 200 closed loop)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    number = {"type": _positive_int, "metavar": "N"}
    parser.add_argument("--workers", **number, default=os.cpu_count() or 2, help="gunicorn workers (nproc)")
    parser.add_argument("--threads", **number, default=4, help="threads per worker (4, as run.py serve)")
    fraction = {"type": _positive_float}
    parser.add_argument(
        "--rates",
        "--rate",
        type=_rates,
        default=list(DEFAULT_RATES),
        metavar="R[,R...]",
        help="open loop: messages a second, one run per rate (100,150,200)",
    )
    parser.add_argument("--seconds", **fraction, default=30.0, help="open loop: seconds a run (30)")
    parser.add_argument(
        "--senders",
        **number,
        default=OPEN_LOOP_SENDERS,
        help=f"open loop: sender threads, one request at a time each ({OPEN_LOOP_SENDERS})",
    )
    parser.add_argument("--clients", **number, default=16, help="closed loop: concurrent clients (16)")
    parser.add_argument("--count", **number, default=3000, help="closed loop: messages per run (3000)")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server and a role that may CREATE DATABASE; the bench uses a fresh database there",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s open loop, 200 closed loop")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.count = 2.0, 200
    return args


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _rates(text: str) -> list[float]:
    try:
        return [_positive_float(part) for part in text.split(",")]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of rates like 100,150,200: {text!r}") from exc


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {value}")
    return value


def run(args: argparse.Namespace, folder: Path, database_url: str) -> int:
    """The whole bench on one database: returns the exit status."""
    credentials = Credentials.made_up()
    env = server_env(database_url, credentials)
    settings = load_settings(environ=env)
    classifier = classifier_for(settings)
    community = Community()
    texts = ticket_texts(classifier)
    load = Load()
    load.phases["warm-up"] = plan(WARMUP_MESSAGES, max(args.rates), community, texts, credentials)
    for rate in args.rates:
        count = max(1, round(rate * args.seconds))
        load.phases[open_phase(rate)] = plan(count, rate, community, texts, credentials)
    load.phases["closed"] = plan(args.count, max(args.rates), community, texts, credentials)
    size = max(QUICK_COMMUNITY if args.quick else MIN_COMMUNITY, community.writers + community.elders)
    print(f"database: {describe_database(database_url)}")
    prepare(settings, folder, community, size)
    port, werobot_port = free_port(), free_port()
    print(
        f"server:   gunicorn, {args.workers} gthread workers x {args.threads} threads, safe mode (AES), "
        f"sandbox settings, GridDesk and /bare on port {port}, WeRoBot's echo (sessions off) on port "
        f"{werobot_port}; load: {args.senders} open-loop senders, {args.clients} closed-loop clients, "
        "a new connection per request",
        flush=True,
    )
    with (
        gunicorn(folder, env, port, args.workers, args.threads) as server,
        gunicorn(folder, env, werobot_port, args.workers, args.threads, app="werobot") as werobot,
    ):
        print(f"          master pid {server.pid}, worker pids {' '.join(map(str, server.workers()))}")
        figures = measure(args, Ports(port, werobot_port), Servers(server, werobot), load, credentials)
        rss = server.memory()
        wait_for_inbox_workers(database_url)
    report_server_log(server.log, "GridDesk's server log")
    report_server_log(werobot.log, "WeRoBot's server log")
    print_figures(figures)
    print_goals(figures, database_url)
    print("gunicorn memory after the load (VmRSS, peak VmHWM):")
    for line in rss:
        print(f"  {line}")
    failures = verify(database_url, load, credentials)
    failures += verify_echoes(load, credentials)
    print(f"load average at the end: {load_average()}")
    return 1 if failures else 0


# Settings and databases


def server_env(database_url: str, credentials: Credentials) -> dict[str, str]:
    """The server's environment: this one without GRIDDESK_*, plus the bench's settings."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("GRIDDESK_")}
    return clean | {
        "GRIDDESK_DATABASE_URL": database_url,
        "GRIDDESK_WECHAT_TOKEN": credentials.token,
        "GRIDDESK_WECHAT_APPID": credentials.appid,
        "GRIDDESK_WECHAT_AES_KEY": credentials.aes_key,
        # No quiet hours, so the check-in ping goes out whatever the time of day the bench runs.
        "GRIDDESK_CHECKINS_QUIET_START": "00:00",
        "GRIDDESK_CHECKINS_QUIET_END": "00:00",
        # Every shot is signed when the load is planned, before the database is built: the widest window.
        "GRIDDESK_WEBHOOK_TIMESTAMP_WINDOW_SECONDS": "3600",
        "PYTHONUNBUFFERED": "1",
    }


# The community


def prepare(settings: Settings, folder: Path, community: Community, size: int) -> None:
    """Migrate, load grids and staff from a generated TOML, bulk-insert residents, ping the elders."""
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        now = datetime.now(UTC)
        grids = max(1, math.ceil(size / PER_WORKER))
        with transaction(factory) as session:
            load_community(session, write_staff(folder / "community.toml", grids), now)
        elders = math.ceil(community.elders * (1 + SILENT_ELDERS))
        minute = local_moment(now, settings.timezone).minute
        with transaction(factory) as session:
            buildings = list(session.scalars(select(Building.id).order_by(Building.id)))
            session.execute(insert(Resident), list(resident_rows(size, elders, buildings, minute, now)))
        pinged = ping_sweep(factory, DomainSettings.of(settings), datetime.now(UTC))
        print(
            f"community: {size:,} residents bound to {len(buildings)} buildings in {grids} grids; "
            f"{community.writers:,} of them write, {pinged.pinged:,} elders pinged by the check-in sweep "
            f"({community.elders:,} of them answer)",
            flush=True,
        )
        if pinged.pinged != elders:
            raise RuntimeError(f"the ping sweep pinged {pinged.pinged} elders, not {elders}")
    finally:
        engine.dispose()


def write_staff(path: Path, grids: int) -> Path:
    """A community file in config/demo.toml's layout: grids, buildings, workers with AB岗 backups, leaders."""
    lines: list[str] = []
    leaders = math.ceil(grids / GRIDS_PER_LEADER)
    for n in range(1, leaders + 1):
        lines += worker_toml(f"bench-leader-{n}", f"组长{n}", "leader", f"1370000{n:04d}")
    lines += worker_toml("bench-duty", "社区值班台", "community", "010-12345678")
    for n in range(1, grids + 1):
        backup = f"bench-worker-{n % grids + 1}" if grids > 1 else None
        lines += worker_toml(f"bench-worker-{n}", f"网格员{n}", "worker", f"1390000{n:04d}", backup)
    for n in range(1, grids + 1):
        first = (n - 1) * BUILDINGS_PER_GRID + 1
        buildings = ", ".join(f'"{b}号楼"' for b in range(first, first + BUILDINGS_PER_GRID))
        leader = (n - 1) // GRIDS_PER_LEADER + 1
        lines += [
            "[[grids]]",
            f'code = "G{n}"',
            f'name = "第{n}网格"',
            f'worker = "bench-worker-{n}"',
            f'leader = "bench-leader-{leader}"',
            f"buildings = [{buildings}]",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def worker_toml(openid: str, name: str, role: str, phone: str, backup: str | None = None) -> list[str]:
    """One [[workers]] entry."""
    entry = ["[[workers]]", f'openid = "{openid}"', f'name = "{name}"', f'role = "{role}"']
    return [*entry, f'phone = "{phone}"', *([f'backup = "{backup}"'] if backup else []), ""]


def resident_rows(
    size: int, elders: int, buildings: list[int], minute: int, now: datetime
) -> Iterator[dict[str, object]]:
    """Elders living alone first (their ping due this minute), then everyone else, spread over buildings."""
    for n in range(1, size + 1):
        elder = n <= elders
        number = n if elder else n - elders
        yield {
            "openid": f"bench-elder-{number}" if elder else f"bench-resident-{number}",
            "name": f"居民{n}",
            "phone": f"138{n:08d}",
            "building_id": buildings[n % len(buildings)],
            "unit": str(n % 6 + 1),
            "room": f"{n % 18 + 1}0{n % 4 + 1}",
            "household_category": "ordinary",
            "lives_alone": elder,
            "subscribed": True,
            "checkin_minute": minute if elder else None,
            "created_at": now,
            # Elders wrote lately: their 48-hour window is open, so the ping goes (never as a template).
            "last_message_at": now if elder else None,
        }


# What residents say


def ticket_texts(classifier: IntentClassifier) -> dict[str, Iterator[str]]:
    """Endless distinct texts per category, each one the classifier routes to that category."""
    return {category: _texts(classifier, category) for category in CATEGORIES}


REPAIRS = [
    place + fault
    for place in ("厨房", "卫生间", "阳台", "客厅", "卧室", "楼道", "地下室", "车棚", "单元门口", "楼顶")
    for fault in (
        "水管漏水了", "灯不亮了", "下水道堵了", "暖气片不热", "门锁坏了",
        "窗户关不上", "墙皮掉了", "插座没电了", "水龙头坏了", "天花板渗水",
    )
]  # fmt: skip
BILLS = [
    ask.format(fee)
    for fee in ("水费", "电费", "燃气费", "物业费", "暖气费", "有线电视费", "宽带费", "水电费", "停车费")
    for ask in (
        "想交一下{}", "{}怎么交", "帮忙代缴{}", "能帮我交{}吗", "这个月的{}还没交",
        "查一下{}欠不欠", "{}在哪里交", "{}能在手机上交吗", "老人不会交{}", "{}交错了怎么办",
    )
]  # fmt: skip
MEDICINES = [
    ask.format(drug)
    for drug in ("降压药", "降糖药", "阿司匹林", "胰岛素", "感冒药", "眼药水", "钙片", "胃药", "膏药")
    for ask in (
        "{}没有了", "{}快吃完了", "想配一些{}", "能帮忙买{}吗", "需要代购{}",
        "帮我去药店拿{}", "{}断了好几天了", "社区能送{}吗", "{}去哪里开", "{}吃完了,腿脚不方便",
    )
]  # fmt: skip
OPENERS = ("", "你好,", "麻烦一下,", "请问,", "师傅,", "打扰了,")
CLOSERS = ("", ",谢谢", ",麻烦尽快", ",辛苦了", "。")


def _texts(classifier: IntentClassifier, category: str) -> Iterator[str]:
    cores = {"repair": REPAIRS, "bill": BILLS, "medicine": MEDICINES}[category]
    texts = [
        text
        for text in (opener + core + closer for core in cores for opener in OPENERS for closer in CLOSERS)
        if classifier.classify(text).category == category and not looks_like_binding(normalize(text))
    ]
    for round_number in itertools.count(1):
        for text in texts:
            yield text if round_number == 1 else f"{text}(第{round_number}次反映)"


# The load


_msg_ids = itertools.count(int(time.time()) * 1_000_000)


def plan(
    count: int, rate: float, community: Community, texts: dict[str, Iterator[str]], credentials: Credentials
) -> list[Shot]:
    """`count` shots following PATTERN, scheduled `1/rate` apart; each writer sends one text per category."""
    kinds = [PATTERN[slot % len(PATTERN)] for slot in range(count)]
    tickets = kinds.count("T")
    writers = community.take_writers(max(1, math.ceil(tickets / len(CATEGORIES))))
    elders = iter(community.take_elders(kinds.count("C")))
    shots: list[Shot] = []
    originals: list[Shot] = []
    late = max(1, round(LATE_RETRY_SECONDS * rate * PATTERN.count("T") / len(PATTERN)))
    for slot, kind in enumerate(kinds):
        at = slot / rate
        if kind == "R" and shots and shots[-1].kind == "ticket":
            shots.append(replace(shots[-1], kind="retry"))  # the same request at the same instant
        elif kind in "RL" and originals:
            shots.append(replace(originals[max(0, len(originals) - late)], kind="retry", at=at))
        elif kind == "C":
            shots.append(signed("checkin", f"bench-elder-{next(elders)}", "1", None, at, credentials))
        else:
            number = len(originals)
            writer = writers[number % len(writers)]
            category = CATEGORIES[number // len(writers)]
            text = next(texts[category])
            shot = signed("ticket", f"bench-resident-{writer}", text, category, at, credentials)
            shots.append(shot)
            originals.append(shot)
    return shots


def signed(
    kind: str, openid: str, text: str, category: str | None, at: float, credentials: Credentials
) -> Shot:
    """A text message as WeChat sends it in safe mode: encrypted, with msg_signature."""
    msg_id = next(_msg_ids)
    request = sign(
        credentials.token,
        text_xml(openid, text, msg_id=msg_id),
        aes_key=credentials.aes_key,
        appid=credentials.appid,
        nonce=f"n{msg_id % 1_000_000_000}",
    )
    return Shot(kind, msg_id, openid, category, urlencode(request.params), request.body.encode(), at, text)


@dataclass(frozen=True)
class Ports:
    """Where GridDesk (with /bare) and WeRoBot's echo listen."""

    griddesk: int
    werobot: int


@dataclass(frozen=True)
class Servers:
    """The two gunicorn servers."""

    griddesk: Server
    werobot: Server

    def wait_idle(self) -> None:
        """Both done with whatever they still had in hand."""
        self.griddesk.wait_idle()
        self.werobot.wait_idle()


def open_phase(rate: float) -> str:
    """The name of the open-loop phase at `rate`."""
    return f"open {rate:g}/s"


def measure(
    args: argparse.Namespace, ports: Ports, servers: Servers, load: Load, credentials: Credentials
) -> list[Figures]:
    """Warm up, then the open-loop runs (bare, full) and the closed loop (bare, WeRoBot, full)."""
    warmup = load.phases["warm-up"]
    send(ports.griddesk, "/bare", warmup, args.clients, paced=False)
    load.echoes += zip(warmup, send(ports.werobot, "/wechat", warmup, args.clients, paced=False), strict=True)
    load.outcomes += zip(
        warmup, send(ports.griddesk, "/wechat", warmup, args.clients, paced=False), strict=True
    )
    targets = {"bare": (ports.griddesk, "/bare"), "werobot": (ports.werobot, "/wechat")}
    targets["full"] = (ports.griddesk, "/wechat")
    runs = [
        (f"open loop {rate:g}/s x {args.seconds:g} s", open_phase(rate), rate, ("bare", "full"))
        for rate in args.rates
    ]
    runs.append((f"closed loop, {args.clients} clients", "closed", 0.0, ("bare", "werobot", "full")))
    figures = []
    for title, phase, rate, names in runs:
        loop = "open" if rate else "closed"
        shots = load.phases[phase]
        for target in names:
            port, path = targets[target]
            server = servers.werobot if target == "werobot" else servers.griddesk
            label = f"{title}, {target}"
            servers.wait_idle()
            print(f"running {label} ({len(shots):,} messages)...", flush=True)
            server_cpu, bench_cpu = server.cpu_seconds(), own_cpu_seconds()
            senders = args.senders if loop == "open" else args.clients
            outcomes = send(port, path, shots, senders, paced=loop == "open")
            server_cpu, bench_cpu = server.cpu_seconds() - server_cpu, own_cpu_seconds() - bench_cpu
            if target == "full":
                load.outcomes += zip(shots, outcomes, strict=True)
            elif target == "werobot":
                load.echoes += zip(shots, outcomes, strict=True)
            good = said_success if target == "bare" else answered
            summary = summarize(outcomes, good)
            per_message = 1000 / max(1, summary.sent - summary.dropped)
            cpu = (server_cpu * per_message, bench_cpu * per_message)
            queued = count_queued(outcomes, credentials) if target == "full" else 0
            figures.append(Figures(label, loop, target, summary, *cpu, rate=rate, queued=queued))
    return figures


def send(port: int, path: str, shots: Sequence[Shot], senders: int, *, paced: bool) -> list[Outcome]:
    """POST the shots to one path, open loop (paced) or closed loop."""
    requests = [Request(f"{path}?{shot.query}", shot.body, shot.at) for shot in shots]
    return drive(
        port,
        requests,
        senders,
        paced=paced,
        timeout=REQUEST_TIMEOUT_SECONDS,
        give_up_after=REQUEST_TIMEOUT_SECONDS,
    )


def count_queued(outcomes: Sequence[Outcome], credentials: Credentials) -> int:
    """How many answers were the overload queue's "received, your ticket number follows"."""
    return sum(1 for outcome in outcomes if decrypted(outcome, credentials) in QUEUED_REPLIES)


def decrypted(outcome: Outcome, credentials: Credentials) -> str | None:
    """The text of an answered request's encrypted reply; '?' when it does not decrypt, None unanswered."""
    if outcome.status != 200:
        return None
    try:
        return read_reply(
            outcome.body.decode(),
            token=credentials.token,
            aes_key=credentials.aes_key,
            appid=credentials.appid,
        )
    except Exception:  # any failure to decrypt or parse is what the checks report
        return "?"


def answered(outcome: Outcome) -> bool:
    """/wechat (GridDesk or WeRoBot) answered (what it answered is checked afterwards)."""
    return outcome.status == 200


def said_success(outcome: Outcome) -> bool:
    """/bare answered 'success'."""
    return outcome.status == 200 and outcome.body == b"success"


def own_cpu_seconds() -> float:
    """User plus system CPU this process (the load) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the (shared) machine was."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


# Reports


def report_server_log(path: Path, name: str = "server log") -> None:
    """Errors gunicorn or GridDesk logged, each with the exception that ended its traceback."""
    lines = path.read_text().splitlines()
    errors = [n for n, line in enumerate(lines) if " ERROR " in line or "[CRITICAL]" in line]
    print(f"{name}: {len(lines):,} lines, {len(errors)} errors")
    for n in errors[:10]:
        exception = next((line for line in lines[n + 1 :] if _ends_traceback(line)), "")
        print(f"  {lines[n]}\n    {exception}")


def _ends_traceback(line: str) -> bool:
    """The `SomeError: message` line at the end of a traceback (log lines start with a date or '[')."""
    skipped = ("Traceback", "During", "The above", "[")
    return bool(line) and not line[0].isspace() and not line[0].isdigit() and not line.startswith(skipped)


def print_figures(figures: Sequence[Figures]) -> None:
    """The table of runs."""
    print(
        f"\n  {'run':<38} {'sent':>6} {'answered':>8} {'past 5 s':>8} {'queued':>6} {'errors':>6} "
        f"{'dropped':>7} {'msg/s':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'lag p99':>8} "
        f"{'server CPU':>11} {'bench CPU':>9}"
    )
    for f in figures:
        s = f.summary
        queued = "" if f.target != "full" else f"{f.queued:,}"
        print(
            f"  {f.label:<38} {s.sent:>6,} {s.sent - s.errors:>8,} {s.late:>8,} {queued:>6} {s.errors:>6,} "
            f"{s.dropped:>7,} {s.per_second:>6.0f} {s.p50_ms:>8.1f} {s.p99_ms:>8.1f} {s.max_ms:>8.0f} "
            f"{s.lag_p99_ms:>8.1f} {f.server_cpu_ms:>8.2f} ms {f.bench_cpu_ms:>6.2f} ms"
        )
    print(
        "  latency: open loop from when the message was due, closed loop from its send, errors and drops"
        "\n  included; answered: 200 (/bare: 'success'); past 5 s: answered after WeChat's"
        f" {WECHAT_WAIT_SECONDS:g} s, when it had\n  given up and retried; queued: answered at once under"
        " overload, finished by the inbox workers;\n  lag p99: how late sends started; dropped: not sent,"
        f" over {REQUEST_TIMEOUT_SECONDS:g} s behind schedule; CPU: per message\n  sent, gunicorn's"
        " processes (WeRoBot's row: its own gunicorn's) and the bench's own\n"
    )


def print_goals(figures: Sequence[Figures], database_url: str) -> None:
    """Issue 15's goals, met or missed: p99 at 150 msg/s, and the closed loop's two ratios."""
    for f in figures:
        if f.loop != "open" or f.target != "full":
            continue
        s, rate = f.summary, f.rate
        sustained = s.errors == 0 and s.per_second >= 0.95 * rate
        met = sustained and s.p99_ms < P99_GOAL_MS
        goal = " (the goal)" if rate == P99_GOAL_RATE else ""
        print(
            f"p99 < {P99_GOAL_MS:g} ms at {rate:g} msg/s sustained{goal}: {'met' if met else 'MISSED'} "
            f"(p99 {s.p99_ms:.1f} ms, {s.per_second:.0f} msg/s answered, {s.errors} errors, {s.late} past"
            f" {WECHAT_WAIT_SECONDS:g} s)"
        )
    closed = {f.target: f.summary for f in figures if f.loop == "closed"}
    full, bare, werobot = closed["full"], closed["bare"], closed["werobot"]
    where = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"
    for name, other, goal in (("bare", bare, BARE_RATIO_GOAL), ("WeRoBot", werobot, WEROBOT_RATIO_GOAL)):
        ratio = full.per_second / other.per_second if other.per_second else 0.0
        print(
            f"closed loop GridDesk/{name} >= {goal:g}: {'met' if ratio >= goal else 'MISSED'} on {where} "
            f"(GridDesk {full.per_second:.0f} msg/s, {name} {other.per_second:.0f} msg/s, ratio {ratio:.3f})"
        )


# Correctness

# How long the inbox workers may take to finish what was queued under overload once the load ends.
INBOX_DRAIN_SECONDS = 300.0


def wait_for_inbox_workers(database_url: str) -> None:
    """Wait until no message is left queued (answered at once under overload, finished later)."""
    engine = make_engine(database_url)
    started = time.monotonic()
    try:
        while True:
            with engine.connect() as connection:
                waiting = connection.scalar(
                    select(func.count()).select_from(InboundMessage).where(InboundMessage.status.in_(WAITING))
                )
            if not waiting or time.monotonic() - started > INBOX_DRAIN_SECONDS:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    waited = time.monotonic() - started
    print(f"inbox workers: {waiting or 0} messages still queued {waited:.1f} s after the load")



@dataclass(frozen=True)
class Stored:
    """What the database holds after the load."""

    messages: dict[str, tuple[int | None, str]]  # dedup key -> (ticket id, status)
    receipts: Counter[str]  # dedup key -> pushes of kind `reply` (a queued message's ticket number)
    tickets: int
    duplicates: int  # (resident, category) pairs with more than one ticket
    elder_tickets: int
    checkins_answered: int


def verify(database_url: str, load: Load, credentials: Credentials) -> list[str]:
    """Every answered new-ticket message has exactly one ticket, retries made none: print, return failures."""
    replies = answered_replies(load, credentials)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = Stored(
                messages={
                    key: (ticket_id, status)
                    for key, ticket_id, status in connection.execute(
                        select(InboundMessage.dedup_key, InboundMessage.ticket_id, InboundMessage.status)
                    )
                },
                receipts=Counter(
                    dict(
                        connection.execute(
                            select(InboundMessage.dedup_key, func.count())
                            .join(OutboxMessage, OutboxMessage.message_id == InboundMessage.id)
                            .where(OutboxMessage.kind == "reply")
                            .group_by(InboundMessage.dedup_key)
                        ).all()
                    )
                ),
                tickets=connection.scalar(select(func.count()).select_from(Ticket)) or 0,
                duplicates=connection.scalar(select(func.count()).select_from(_duplicate_tickets())) or 0,
                elder_tickets=connection.scalar(_elder_tickets()) or 0,
                checkins_answered=connection.scalar(
                    select(func.count()).select_from(CheckIn).where(CheckIn.status == "answered")
                )
                or 0,
            )
    finally:
        engine.dispose()
    return report_checks(load, replies, stored)


def _duplicate_tickets() -> Subquery:
    """Residents with two tickets of one category (each writer sends one message per category)."""
    pairs = select(Ticket.resident_id, Ticket.category).group_by(Ticket.resident_id, Ticket.category)
    return pairs.having(func.count() > 1).subquery()


def _elder_tickets() -> Select[tuple[int]]:
    """Tickets opened for elders, who only ever answered "1"."""
    joined = select(func.count()).select_from(Ticket).join(Resident, Resident.id == Ticket.resident_id)
    return joined.where(Resident.openid.startswith("bench-elder-"))


def answered_replies(load: Load, credentials: Credentials) -> dict[int, list[str | None]]:
    """The decrypted reply of every answered POST to /wechat, by MsgId ('?' when it would not decrypt)."""
    replies: dict[int, list[str | None]] = defaultdict(list)
    for shot, outcome in load.outcomes:
        if outcome.status == 200:
            replies[shot.msg_id].append(decrypted(outcome, credentials))
    return replies


def verify_echoes(load: Load, credentials: Credentials) -> list[str]:
    """WeRoBot did the same crypto work: each of its answers decrypts to the very text it was sent."""
    answers = [(shot, decrypted(outcome, credentials)) for shot, outcome in load.echoes]
    echoed = sum(1 for shot, text in answers if text == shot.text)
    unanswered = sum(1 for _shot, text in answers if text is None)
    print(
        f"WeRoBot's echo: {len(answers):,} sent, {echoed:,} answered with the text sent (decrypted with the"
        f" account's EncodingAESKey), {unanswered} unanswered"
    )
    wrong = len(answers) - echoed - unanswered
    return [f"{wrong} WeRoBot answers that did not decrypt to the text sent"] if wrong else []


def report_checks(load: Load, replies: dict[int, list[str | None]], stored: Stored) -> list[str]:
    """Print the correctness figures and return what is wrong."""
    sent = [shot for shot, outcome in load.outcomes if outcome.status != DROPPED]
    ticket_ids = {shot.msg_id for shot in sent if shot.kind in ("ticket", "retry")}
    checkin_ids = {shot.msg_id for shot in sent if shot.kind == "checkin"}
    answered = [msg_id for msg_id in ticket_ids if msg_id in replies]
    owners = Counter(_own_ticket(replies[msg_id], stored, msg_id) for msg_id in answered)
    one_ticket = sum(count for ticket_id, count in owners.items() if ticket_id is not None)
    shared = sum(1 for ticket_id, count in owners.items() if ticket_id is not None and count > 1)
    thanked = sum(1 for msg_id in checkin_ids if _thanked(replies.get(msg_id, [None])[0], stored, msg_id))
    checkins_answered = sum(1 for msg_id in checkin_ids if msg_id in replies)
    statuses = Counter(status for _ticket, status in stored.messages.values())
    queued = sum(1 for msg_id in answered if replies[msg_id][0] in QUEUED_REPLIES)
    print("correctness (every message to /wechat: warm-up, open loop, closed loop):")
    print(
        f"  new-ticket messages: {len(ticket_ids):,} sent, {len(answered):,} answered, {one_ticket:,} of them"
        f" with exactly one ticket (the reply's #number is the stored message's ticket, every copy got the"
        f" same reply), {shared} tickets claimed by two messages"
    )
    print(
        f"  of them answered at once under overload and finished by the inbox workers: {queued:,} (each"
        " counted above only with its ticket and exactly one receipt push)"
    )
    retries = sum(1 for shot in sent if shot.kind == "retry")
    print(
        f"  retries: {retries:,} sent (the same MsgId again); tickets in the database: {stored.tickets:,} (at"
        f" most {len(ticket_ids):,}); duplicates (one writer, one category, two tickets): {stored.duplicates}"
    )
    print(
        f'  check-in answers: {len(checkin_ids):,} elders sent "1", {checkins_answered:,} answered,'
        f" {thanked:,} thanked; {stored.checkins_answered:,} check-ins answered in the database,"
        f" {stored.elder_tickets} tickets opened for elders"
    )
    print(
        f"  inbound messages failed: {statuses['failed']} (kept with an apology and passed to the duty desk,"
        f" e.g. after the database's 10 s busy timeout under overload); throttled: {statuses['throttled']}"
    )
    failures = []
    if one_ticket != len(answered) or shared:
        failures.append("an answered new-ticket message without exactly one ticket of its own")
    if stored.duplicates or stored.tickets > len(ticket_ids):
        failures.append("duplicate tickets")
    if thanked != checkins_answered or stored.checkins_answered < thanked or stored.elder_tickets:
        failures.append('an answered "1" not thanked, not recorded, or opening a ticket')
    if statuses["throttled"]:
        failures.append("messages throttled, though no sender writes more than 3 a minute")
    print(f"  {'all correct' if not failures else 'WRONG: ' + '; '.join(failures)}")
    return failures


def _thanked(text: str | None, stored: Stored, msg_id: int) -> bool:
    """An elder's "1" was thanked: in the passive reply, or (queued under overload) in its one receipt."""
    return text == OK_REPLY or (text in QUEUED_REPLIES and stored.receipts[f"msg:{msg_id}"] == 1)


def _own_ticket(texts: list[str | None], stored: Stored, msg_id: int) -> int | None:
    """The ticket a message's replies name, if every copy got the same reply and it is the stored ticket.

    A message queued under overload was answered before it had a ticket: its own is the one stored on it,
    when its sender was sent exactly one receipt.
    """
    ticket_id, _status = stored.messages.get(f"msg:{msg_id}", (None, ""))
    if texts[0] in QUEUED_REPLIES:
        if stored.receipts[f"msg:{msg_id}"] != 1 or len(set(texts)) > 1:
            return None
        return ticket_id
    number = TICKET_NUMBER.search(texts[0] or "")
    if number is None or ticket_id != int(number.group(1)) or len(set(texts)) > 1:
        return None
    return ticket_id


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
