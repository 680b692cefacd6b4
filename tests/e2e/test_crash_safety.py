"""Crash safety: SIGKILL the web server in the middle of a load; nothing answered is lost or doubled.

WeChat resends a message that got no 200 (a reset connection, a 5xx, a timeout) with the same MsgId, and
sometimes one whose 200 got lost on the way back. GridDesk stores a message, its ticket and its pushes in
one transaction and replies only after the commit, so whenever the process dies, a resend either finds
the message stored (and gets the first reply again) or handles it afresh.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.simulator import read_reply, sign, text_xml
from config.settings import WeChatSettings, load_settings
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.demo import load_community
from storage.models import InboundMessage, OutboxMessage, Resident, Ticket
from tests.conftest import TEST_AES_KEY, TEST_APPID, command_env
from tests.e2e.test_command_line import free_port, wait_until_up
from tests.e2e.test_production import started, wait_for_log

GRIDS = 3
RESIDENTS_PER_PHASE = 36  # one new-ticket message each: far below any per-sender flood limit
CLIENT_THREADS = 6
# The crash comes once this many of a phase's messages were answered; the rest are sent after it.
CRASH_AFTER = RESIDENTS_PER_PHASE // 3
# Every RESEND_EVERY-th answered message is sent again, as when WeChat never saw the 200.
RESEND_EVERY = 4
REQUEST_TIMEOUT = (5, 20)  # connect, read: generous, since a timeout only means one more resend
PATIENCE_SECONDS = 60
REQUESTS = (  # one per category that opens an ordinary ticket (no emergencies: they page leaders too)
    "卫生间水管漏水了",
    "电费怎么充",
    "糖尿病的药快吃完了",
    "想请社区医生上门看看",
    "楼下烧烤油烟呛人",
    "残疾人补贴怎么申请",
)


@dataclass
class Message:
    """One resident's message as WeChat holds it: resent with the same MsgId and CreateTime."""

    openid: str
    worker: str  # the openid of the grid worker it should be pushed to
    text: str
    msg_id: int
    create_time: int
    replies: list[str | None] = field(default_factory=list)  # one per 200, first answer first

    @property
    def answered(self) -> bool:
        """Whether any copy of it got a 200."""
        return bool(self.replies)


def community(count: int) -> tuple[str, list[Message]]:
    """A community TOML of GRIDS grids and `count` bound residents, and the message each of them sends."""
    lines, messages = [], []
    created = int(time.time())
    for g in range(1, GRIDS + 1):
        worker = f"crash-worker-{g}"
        lines += [
            "[[workers]]",
            f'openid = "{worker}"',
            f'name = "崔网格{g}"',
            'role = "worker"',
            f'phone = "1390000{g:04d}"',
            "",
            "[[grids]]",
            f'code = "C{g}"',
            f'name = "测试{g}网格"',
            f'worker = "{worker}"',
            f'buildings = ["{20 + g}号楼"]',
            "",
        ]
    for n in range(1, count + 1):
        g = n % GRIDS + 1
        openid = f"crash-resident-{n:03d}"
        lines += [
            "[[residents]]",
            f'openid = "{openid}"',
            f'name = "居民{n}"',
            f'phone = "1370000{n:04d}"',
            f'building = "{20 + g}号楼"',
            'unit = "1"',
            f'room = "{100 + n}"',
            'household_category = "ordinary"',
            "",
        ]
        text = f"{REQUESTS[n % len(REQUESTS)]}(编号 {n})"
        messages.append(Message(openid, f"crash-worker-{g}", text, 7_000_000_000 + n, created))
    return "\n".join(lines), messages


def post(http: requests.Session, url: str, wechat: WeChatSettings, message: Message) -> bool:
    """Send one copy of the message, signed and encrypted as WeChat does; True when answered 200."""
    body = text_xml(message.openid, message.text, create_time=message.create_time, msg_id=message.msg_id)
    signed = sign(wechat.token, body, aes_key=wechat.aes_key, appid=wechat.appid)
    try:
        response = http.post(url, params=signed.params, data=signed.body.encode(), timeout=REQUEST_TIMEOUT)
    except requests.RequestException:  # reset, refused, timed out: WeChat will try again
        return False
    if response.status_code != 200:
        return False
    reply = read_reply(response.text, token=wechat.token, aes_key=wechat.aes_key, appid=wechat.appid)
    message.replies.append(reply)
    return True


def send_load(url: str, wechat: WeChatSettings, messages: list[Message], crash: Callable[[], None]) -> None:
    """Send each message once from CLIENT_THREADS threads, and crash() once CRASH_AFTER were answered.

    Between reaching the mark and the crash, threads hold back new messages: those in flight meet the
    crash, and the rest are sent after it, however fast or slow the machine is.
    """
    pending: queue.SimpleQueue[Message] = queue.SimpleQueue()
    for message in messages:
        pending.put(message)
    answered, lock = [0], threading.Lock()
    reached, crashed = threading.Event(), threading.Event()

    def client() -> None:
        with requests.Session() as http:
            while True:
                try:
                    message = pending.get_nowait()
                except queue.Empty:
                    return
                if reached.is_set():
                    crashed.wait()
                if post(http, url, wechat, message):
                    with lock:
                        answered[0] += 1
                        if answered[0] >= CRASH_AFTER:
                            reached.set()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + PATIENCE_SECONDS
        while not reached.wait(0.01) and any(t.is_alive() for t in threads):
            assert time.monotonic() < deadline, "the load did not get going"
        assert reached.is_set(), f"only {answered[0]} of {len(messages)} messages were answered"
        crash()
    finally:
        crashed.set()
        for thread in threads:
            thread.join(timeout=PATIENCE_SECONDS)
    assert pending.empty() and not any(t.is_alive() for t in threads)


def resend(url: str, wechat: WeChatSettings, messages: list[Message]) -> None:
    """Resend each message, as WeChat does, until it is answered 200 (the server may still be starting)."""
    deadline = time.monotonic() + PATIENCE_SECONDS

    def until_answered(message: Message) -> None:
        with requests.Session() as http:
            while not post(http, url, wechat, message):
                assert time.monotonic() < deadline, f"message {message.msg_id} never answered"
                time.sleep(0.2)

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(until_answered, messages))


def worker_pids(master: subprocess.Popen[bytes]) -> list[int]:
    """The gunicorn worker processes: those whose parent is the master (from /proc, needing no `ps`)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (name) state ppid ...": the name may hold spaces and parentheses, so split after it.
            state_and_parent = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(state_and_parent[1]) == master.pid:
            pids.append(int(stat.parent.name))
    return pids


def kill_one_worker(master: subprocess.Popen[bytes]) -> None:
    """SIGKILL one gunicorn worker; the master boots a new one in its place."""
    workers = worker_pids(master)
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)


def kill_whole_server(master: subprocess.Popen[bytes]) -> None:
    """SIGKILL the master and its workers at once, as a power cut or the OOM killer would."""
    os.killpg(master.pid, signal.SIGKILL)
    master.wait(timeout=PATIENCE_SECONDS)


def serve(
    stack: ExitStack, folder: Path, env: dict[str, str], name: str, port: int
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start `serve --workers 2` and wait until both workers are up; returns the master and its log."""
    web, log = stack.enter_context(
        started(folder, env, name, "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port))
    )
    wait_until_up(port, web, log)
    wait_for_log(log, "Booting worker", count=2, seconds=PATIENCE_SECONDS)
    return web, log


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[dict[str, str], sessionmaker[Session]]]:
    """The environment of the server processes (safe mode), and sessions on their migrated database."""
    env = command_env(
        tmp_path / "crash.db",
        GRIDDESK_DISPATCHER_INTERVAL_SECONDS="0.5",
        GRIDDESK_WECHAT_AES_KEY=TEST_AES_KEY,
        GRIDDESK_WECHAT_APPID=TEST_APPID,
        PYTHONUNBUFFERED="1",
    )
    engine = make_engine(env["GRIDDESK_DATABASE_URL"])
    try:
        # Migrated here, not by the processes, so the server and the scheduler can start side by side.
        upgrade(engine)
        yield env, make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_sigkill_mid_load_loses_and_doubles_nothing_that_was_answered(database, tmp_path: Path) -> None:
    env, factory = database
    wechat = load_settings(environ=env).wechat
    toml, messages = community(2 * RESIDENTS_PER_PHASE)
    (tmp_path / "community.toml").write_text(toml, encoding="utf-8")
    with transaction(factory) as session:  # what `run.py community load` does, without a process start
        load_community(session, tmp_path / "community.toml", datetime.now(UTC))
    first_phase, second_phase = messages[:RESIDENTS_PER_PHASE], messages[RESIDENTS_PER_PHASE:]
    port = free_port()
    url = f"http://127.0.0.1:{port}/wechat"

    with ExitStack() as stack:
        _scheduler, scheduler_log = stack.enter_context(started(tmp_path, env, "scheduler", "scheduler"))
        web, web_log = serve(stack, tmp_path, env, "web", port)

        # Phase 1: one worker dies mid-load; gunicorn replaces it and WeChat's resends go to the others.
        send_load(url, wechat, first_phase, lambda: kill_one_worker(web))
        lost_to_worker = [m for m in first_phase if not m.answered]
        committed = already_stored(factory, lost_to_worker)
        wait_for_log(web_log, "Booting worker", count=3, seconds=PATIENCE_SECONDS)
        resend(url, wechat, lost_to_worker + first_phase[::RESEND_EVERY])

        # Phase 2: the whole server dies mid-load; everything unanswered is resent after the restart.
        send_load(url, wechat, second_phase, lambda: kill_whole_server(web))
        unanswered = [m for m in second_phase if not m.answered]
        committed += already_stored(factory, unanswered)
        serve(stack, tmp_path, env, "web-restarted", port)
        resend(url, wechat, unanswered + messages[1::RESEND_EVERY])

        tickets = check_stored_once(factory, messages)
        check_delivered_once(factory, tickets, scheduler_log)
    print(
        f"\nunanswered and resent: {len(lost_to_worker)} of {len(first_phase)} (worker killed), "
        f"{len(unanswered)} of {len(second_phase)} (server killed); {committed} of them committed before "
        f"the crash (reply lost); {len(tickets)} tickets, each pushed once"
    )
    assert "GridDesk scheduler stopped" in scheduler_log.read_text()
    for log in tmp_path.glob("*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()


def already_stored(factory: sessionmaker[Session], messages: list[Message]) -> int:
    """How many of these messages are stored already: committed, but the reply never reached WeChat."""
    keys = [f"msg:{m.msg_id}" for m in messages]
    with transaction(factory) as session:
        return len(list(session.scalars(select(InboundMessage.id).where(InboundMessage.dedup_key.in_(keys)))))


def check_stored_once(
    factory: sessionmaker[Session], messages: list[Message]
) -> dict[int, tuple[Ticket, int]]:
    """Each message is stored once with one ticket, which every copy of the reply names.

    Returns each ticket, and the id of the message that opened it, by ticket number.
    """
    openids = [m.openid for m in messages]
    with transaction(factory) as session:
        stored = {
            row.dedup_key: row
            for row in session.scalars(select(InboundMessage).where(InboundMessage.openid.in_(openids)))
        }
        query = select(Ticket, Resident.openid).join(Resident).where(Resident.openid.in_(openids))
        tickets = {ticket.id: (ticket, openid) for ticket, openid in session.execute(query)}
        assignees = {t.id: t.assignee.openid for t, _ in tickets.values() if t.assignee is not None}
    assert len(stored) == len(messages) and len(tickets) == len(messages)
    for message in messages:
        first, *again = message.replies
        assert first is not None and "工单号 #" in first, first
        assert again == [first] * len(again)  # a resend gets the first reply, not a second ticket
        number = int(first.split("工单号 #")[1].split("。")[0])
        row = stored[f"msg:{message.msg_id}"]
        ticket, openid = tickets[number]
        assert (row.openid, row.status, row.ticket_id) == (message.openid, "handled", number)
        assert (openid, ticket.summary, assignees[number]) == (message.openid, message.text, message.worker)
    return {row.ticket_id: (tickets[row.ticket_id][0], row.id) for row in stored.values()}


def check_delivered_once(
    factory: sessionmaker[Session], tickets: dict[int, tuple[Ticket, int]], log: Path
) -> None:
    """Each ticket has one push, to its assignee, sent once by the scheduler (sandbox: printed in its log)."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while True:
        with transaction(factory) as session:
            query = select(OutboxMessage).where(OutboxMessage.ticket_id.in_(tickets))
            pushes = list(session.scalars(query))
        if all(push.status == "sent" for push in pushes) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(push.ticket_id for push in pushes) == sorted(tickets)  # one each: none lost, none doubled
    printed = log.read_text()
    for push in pushes:
        ticket, message_id = tickets[push.ticket_id]
        assert (push.kind, push.status) == ("new_ticket", "sent")
        assert (push.worker_id, push.message_id) == (ticket.assignee_id, message_id)
        shown = f"── 推送 → {push.recipient_name}({push.recipient})[new_ticket] ──\n{push.text}\n"
        assert printed.count(shown) == 1, push.text
