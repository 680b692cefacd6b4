"""Overload: a resident is answered at once even when messages pile up, and their ticket number follows.

The backlog is the webhook's own measurement (bot/backlog.py) on a clock the test moves: a message held
"in hand" while that clock runs on is exactly what a stuck write lock looks like to the next message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import QUEUED, create_app, inbox_workers
from bot.backlog import Backlog
from bot.inbox_workers import InboxWorkers
from bot.simulator import read_reply, text_xml
from config.settings import Settings
from handlers.language.intents import IntentClassifier
from handlers.messages.emergency import advice_for
from storage.db import transaction
from storage.inbox_queue import claim_next
from storage.models import InboundMessage
from tests.conftest import command_env, make_settings, pushes, tickets
from tests.e2e.test_command_line import free_port, wait_until_up
from tests.support import FakeClock, WeChatServer

ZHANG, LIU, SUN = "demo-resident-zhang", "demo-resident-liu", "demo-resident-sun"
WANG, ZHAO = "demo-worker-wang", "demo-leader-zhao"
ROOT = Path(__file__).resolve().parents[2]
LEAK, FALL, BILL = "卫生间水管漏水了", "我爸在卫生间摔倒了,站不起来", "帮忙交一下水电费"


@dataclass
class Ticks:
    """A monotonic clock the test moves: how long the backlog measures messages to have waited."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Overload:
    """The webhook with its backlog measured on a clock the test moves, and its inbox workers."""

    app: Flask
    backlog: Backlog
    ticks: Ticks
    wechat: WeChatServer
    factory: sessionmaker[Session]

    @property
    def workers(self) -> InboxWorkers:
        return inbox_workers(self.app)

    @contextmanager
    def jammed(self, seconds: float = 3.0) -> Iterator[None]:
        """A message stuck in hand for `seconds` (on SQLite: holding up the write lock) during the block."""
        with self.backlog.in_hand():
            self.ticks.now += seconds
            yield

    def statuses(self) -> list[tuple[str, str]]:
        """Each stored message's sender and status, oldest first."""
        with transaction(self.factory) as session:
            rows = select(InboundMessage.openid, InboundMessage.status).order_by(InboundMessage.id)
            return [(openid, status) for openid, status in session.execute(rows)]


@pytest.fixture
def overload(tmp_path, factory, clock: FakeClock, classifier: IntentClassifier) -> Overload:
    """The app as production builds it, queueing once a message has waited 2 seconds."""
    settings: Settings = make_settings(tmp_path, GRIDDESK_INBOX_QUEUE_AFTER_SECONDS="2")
    ticks = Ticks()
    backlog = Backlog(ticks)
    app = create_app(settings, factory, classifier, clock, backlog=backlog)
    return Overload(app, backlog, ticks, WeChatServer(app.test_client(), settings.wechat, clock), factory)


def receipts(factory: sessionmaker[Session], openid: str) -> list[str]:
    """The pushes telling `openid` what became of a message answered before it was handled."""
    return [p.text for p in pushes(factory) if p.kind == "reply" and p.recipient == openid]


def test_an_idle_webhook_answers_with_the_ticket_number_at_once(overload: Overload) -> None:
    reply = overload.wechat.say(ZHANG, LEAK)
    assert "#1" in reply and QUEUED.request not in reply
    assert overload.statuses() == [(ZHANG, "handled")]
    assert overload.workers.drain() == 0
    assert receipts(overload.factory, ZHANG) == []  # the passive reply said it all


def test_under_a_backlog_the_resident_is_answered_at_once_and_the_ticket_number_follows(
    overload: Overload,
) -> None:
    with overload.jammed():
        reply = overload.wechat.say(ZHANG, LEAK)
    assert reply == "已收到,正在为您登记,稍后告诉您工单号。"
    assert tickets(overload.factory) == [] and overload.statuses() == [(ZHANG, "queued")]
    assert overload.workers.drain() == 1
    [ticket] = tickets(overload.factory)
    assert (ticket.category, ticket.assignee.name) == ("repair", "王芳")
    [receipt] = receipts(overload.factory, ZHANG)
    assert "发来的消息已处理" in receipt and f"#{ticket.id}" in receipt
    assert WANG in {p.recipient for p in pushes(overload.factory)}  # the worker is told as always
    assert overload.statuses() == [(ZHANG, "handled")]


def test_under_a_backlog_only_a_request_is_promised_a_ticket_number(overload: Overload) -> None:
    with overload.jammed():
        answers = [overload.wechat.say(SUN, text) for text in ("谢谢你们", "楼道灯坏了好几天了")]
    assert answers == ["已收到,稍后回复您。", "已收到,正在为您登记,稍后告诉您工单号。"]
    assert overload.workers.drain() == 2
    [ticket] = tickets(overload.factory)
    assert ticket.category == "repair"
    thanks, repair = receipts(overload.factory, SUN)
    assert "不客气" in thanks and f"#{ticket.id}" in repair


def test_a_short_wait_is_no_backlog(overload: Overload) -> None:
    with overload.jammed(seconds=1.5):
        reply = overload.wechat.say(ZHANG, LEAK)
    assert "#1" in reply and overload.statuses() == [(ZHANG, "handled")]


def test_an_emergency_gets_its_full_advice_in_the_first_reply_either_way(overload: Overload) -> None:
    inline = overload.wechat.say(LIU, FALL)
    assert inline.startswith(advice_for("medical"))
    with overload.jammed():
        queued = overload.wechat.say(ZHANG, FALL)
        tapped = overload.wechat.event(SUN, "CLICK", "MENU_SOS")
    assert queued.startswith(advice_for("medical")) and "社区值班电话" in queued
    assert tapped.startswith(advice_for(None))
    assert "稍后告诉您工单号" not in queued


def test_the_workers_take_emergencies_first_then_messages_in_order_of_arrival(overload: Overload) -> None:
    with overload.jammed():
        overload.wechat.say(LIU, BILL)
        overload.wechat.say(SUN, "马桶不下水")
        overload.wechat.say(ZHANG, FALL)
    for _ in range(3):
        overload.workers.work_once()
    assert [(t.resident.openid, t.category) for t in tickets(overload.factory)] == [
        (ZHANG, "emergency"),
        (LIU, "bill"),
        (SUN, "repair"),
    ]
    paged = {p.recipient for p in pushes(overload.factory) if p.kind == "emergency"}
    assert {WANG, ZHAO} <= paged


def test_one_residents_messages_are_finished_in_order_and_never_two_at_once(overload: Overload) -> None:
    with overload.jammed():
        overload.wechat.say(ZHANG, LEAK)
        overload.wechat.say(ZHANG, "楼上邻居太吵了")
        overload.wechat.say(LIU, BILL)
    # The backlog is gone, but ZHANG's next message still waits behind her earlier ones.
    later = overload.wechat.say(ZHANG, "降压药没有了")
    assert later == QUEUED.request
    assert [status for _, status in overload.statuses()] == ["queued"] * 4
    # Another process's worker holds ZHANG's first message: hers wait; LIU's is finished meanwhile.
    clock = overload.workers._clock
    with transaction(overload.factory) as session:
        first = claim_next(session, "another-process", clock(), clock().replace(year=2100))
    assert overload.workers.drain() == 1
    assert [t.resident.openid for t in tickets(overload.factory)] == [LIU]
    with transaction(overload.factory) as session:
        session.get_one(InboundMessage, first).status = "queued"  # handed back, as a lease running out does
    assert overload.workers.drain() == 3
    hers = [t for t in tickets(overload.factory) if t.resident.openid == ZHANG]
    assert [t.category for t in hers] == ["repair", "dispute", "medicine"]
    told = receipts(overload.factory, ZHANG)
    assert len(told) == 3 and all(f"#{t.id}" in text for t, text in zip(hers, told, strict=True))


def test_a_retry_of_a_queued_message_gets_the_same_reply_and_nothing_twice(overload: Overload) -> None:
    wechat = overload.wechat
    signed = wechat.sign(text_xml(ZHANG, LEAK, msg_id=4242))
    with overload.jammed():
        first = wechat.reply(wechat.send(signed))
        assert wechat.reply(wechat.send(signed)) == first == QUEUED.request
    assert wechat.reply(wechat.send(signed)) == first  # no backlog now: still the reply it had
    assert overload.workers.drain() == 1
    assert wechat.reply(wechat.send(signed)) == first  # finished: still the same, nothing new
    assert overload.workers.drain() == 0
    assert len(tickets(overload.factory)) == 1 and len(receipts(overload.factory, ZHANG)) == 1
    assert overload.statuses() == [(ZHANG, "handled")]


def test_never_queueing_is_a_setting(tmp_path, factory, clock, classifier) -> None:
    settings = make_settings(tmp_path, GRIDDESK_INBOX_QUEUE_AFTER_SECONDS="0")
    ticks = Ticks()
    backlog = Backlog(ticks)
    app = create_app(settings, factory, classifier, clock, backlog=backlog)
    wechat = WeChatServer(app.test_client(), settings.wechat, clock)
    with backlog.in_hand():
        ticks.now += 60
        assert "#1" in wechat.say(ZHANG, LEAK)


# An inbox worker in a process of its own, stopped for good in the middle of its message: its handler
# (the real router, wrapped) says so in a file, then never returns, inside the transaction that handles it.
STALLING_WORKER = """
import sys, time
from datetime import datetime
from pathlib import Path
from bot.app import create_app, inbox_workers
from bot.bootstrap import bootstrap
from config.settings import load_settings
from handlers.routing.router import route

now, marker = datetime.fromisoformat(sys.argv[1]), Path(sys.argv[2])
runtime = bootstrap(load_settings(), clock=lambda: now)

def stall(services, incoming):
    route(services, incoming)  # the ticket is written, not yet committed
    marker.write_text("mid-message")
    time.sleep(3600)

app = create_app(runtime.settings, runtime.factory, runtime.classifier, runtime.clock, router=stall)
inbox_workers(app).work_once()
"""


@pytest.mark.slow
def test_an_inbox_worker_killed_mid_message_leaves_it_to_another_which_handles_it_once(
    overload: Overload, tmp_path, clock: FakeClock
) -> None:
    with overload.jammed():
        reply = overload.wechat.say(ZHANG, LEAK)
    assert reply == QUEUED.request
    marker = tmp_path / "stalled"
    env = command_env(tmp_path / "griddesk.db", GRIDDESK_INBOX_QUEUE_AFTER_SECONDS="2")
    worker = subprocess.Popen(
        [sys.executable, "-c", STALLING_WORKER, clock().isoformat(), str(marker)], cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert worker.poll() is None, "the worker process ended before its message"
            assert time.monotonic() < deadline, "the worker never reached its message"
            time.sleep(0.05)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    assert overload.statuses() == [(ZHANG, "working")]
    assert overload.workers.drain() == 0  # its lease still runs: nobody takes it over yet
    clock.advance(seconds=61)  # [inbox] lease_seconds = 60
    assert overload.workers.drain() == 1
    assert overload.statuses() == [(ZHANG, "handled")]
    [ticket] = tickets(overload.factory)
    [receipt] = receipts(overload.factory, ZHANG)
    assert f"#{ticket.id}" in receipt
    assert [p.recipient for p in pushes(overload.factory) if p.kind == "new_ticket"] == [WANG]
    with transaction(overload.factory) as session:
        message = session.scalars(select(InboundMessage)).one()
        assert (message.attempts, message.claimed_by) == (2, overload.workers.holder)


def test_a_queued_message_whose_handler_fails_is_kept_and_the_duty_desk_told(
    tmp_path, factory, clock: FakeClock, classifier: IntentClassifier
) -> None:
    def broken(services, incoming):
        raise RuntimeError("a bug")

    settings = make_settings(tmp_path, GRIDDESK_INBOX_QUEUE_AFTER_SECONDS="2")
    ticks = Ticks()
    backlog = Backlog(ticks)
    app = create_app(settings, factory, classifier, clock, router=broken, backlog=backlog)
    overload = Overload(app, backlog, ticks, WeChatServer(app.test_client(), settings.wechat, clock), factory)
    with overload.jammed():
        assert overload.wechat.say(ZHANG, LEAK) == QUEUED.request
    assert overload.workers.drain() == 1
    assert overload.statuses() == [(ZHANG, "failed")]
    [alert] = [p for p in pushes(factory) if p.kind == "failed_message"]
    assert alert.recipient == "demo-community-duty" and "未能自动处理" in alert.text
    assert overload.workers.drain() == 0  # kept for a person, not tried for ever


# GridDesk under gunicorn as production runs it (bot/wsgi.py: one worker process with one thread, the
# app built after the fork), its clock at the test's time; a message saying SLOW keeps the only thread
# busy for a while, in the real router.
SLOW = "慢慢说:卫生间水管漏水了"
ONE_THREAD_SERVER = """
import sys, time
from datetime import datetime
from pathlib import Path
from bot.app import create_app, inbox_workers
from bot.bootstrap import bootstrap
from bot.wsgi import WebServer, gunicorn_options
from config.settings import load_settings
from handlers.routing.router import route

now, port, marker = datetime.fromisoformat(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
slow = sys.argv[4]

def slow_for_slow(services, incoming):
    if incoming.text == slow:
        marker.write_text("busy")
        time.sleep(2.5)
    return route(services, incoming)

def app():
    runtime = bootstrap(load_settings(), clock=lambda: now)
    settings, factory, classifier = runtime.settings, runtime.factory, runtime.classifier
    web = create_app(settings, factory, classifier, runtime.clock, router=slow_for_slow)
    inbox_workers(web).start()
    return web

WebServer(app, gunicorn_options("127.0.0.1", port, 1, 1)).run()
"""


@pytest.mark.slow
def test_under_gunicorn_a_message_kept_waiting_for_a_thread_is_answered_at_once(
    overload: Overload, tmp_path, clock: FakeClock
) -> None:
    port, marker, log = free_port(), tmp_path / "busy", tmp_path / "web.log"
    env = command_env(tmp_path / "griddesk.db", GRIDDESK_INBOX_QUEUE_AFTER_SECONDS="1")
    url = f"http://127.0.0.1:{port}/wechat"

    def post(openid: str, text: str) -> str | None:
        signed = overload.wechat.sign(text_xml(openid, text))
        answer = requests.post(url, params=signed.params, data=signed.body.encode(), timeout=30)
        assert answer.status_code == 200, answer.text
        return read_reply(answer.text)

    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-c", ONE_THREAD_SERVER, clock().isoformat(), str(port), str(marker), SLOW],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(port, server, log)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(post, ZHANG, SLOW)
            deadline = time.monotonic() + 30
            while not marker.exists():
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.02)
            # The only thread is busy for 2.5 s: this one waits in gunicorn's queue past the second.
            second = post(LIU, BILL)
            assert "#1" in first.result()  # the first was handled inline, as always
        assert second == QUEUED.request
        deadline = time.monotonic() + 30
        while not receipts(overload.factory, LIU):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        [receipt] = receipts(overload.factory, LIU)
        [ticket] = [t for t in tickets(overload.factory) if t.resident.openid == LIU]
        assert ticket.category == "bill" and f"#{ticket.id}" in receipt
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def post_through_proxy(overload: Overload, openid: str, text: str, waited: float) -> str | None:
    """A message as nginx hands it on, stamped with when nginx took it in, `waited` seconds ago."""
    signed = overload.wechat.sign(text_xml(openid, text))
    stamp = {"X-Request-Start": f"t={time.time() - waited:.3f}"}
    response = overload.wechat.client.post(
        "/wechat", query_string=signed.params, data=signed.body.encode(), headers=stamp
    )
    return overload.wechat.reply(response)


def test_a_message_that_waited_at_the_trusted_proxy_is_answered_at_once(
    tmp_path, factory, clock: FakeClock, classifier: IntentClassifier
) -> None:
    """A burst fills gunicorn's listen backlog before any thread sees a message: nginx's stamp counts it."""
    settings = make_settings(tmp_path, GRIDDESK_INBOX_QUEUE_AFTER_SECONDS="2", GRIDDESK_SERVER_PROXY_HOPS="1")
    ticks = Ticks()
    backlog = Backlog(ticks)
    app = create_app(settings, factory, classifier, clock, backlog=backlog)
    overload = Overload(app, backlog, ticks, WeChatServer(app.test_client(), settings.wechat, clock), factory)

    assert post_through_proxy(overload, ZHANG, LEAK, waited=3.0) == QUEUED.request
    assert "#" in post_through_proxy(overload, LIU, "楼道灯坏了", waited=0.5)  # a short wait is no backlog
    assert overload.statuses() == [(ZHANG, "queued"), (LIU, "handled")]


def test_the_stamp_of_a_proxy_that_is_not_trusted_is_ignored(overload: Overload) -> None:
    # No server.proxy_hops: anyone could send the header, and it says nothing about this server's wait.
    reply = post_through_proxy(overload, ZHANG, LEAK, waited=3.0)
    assert "#1" in reply and overload.statuses() == [(ZHANG, "handled")]
