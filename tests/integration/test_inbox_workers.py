"""Inbox workers side by side: every queued message finished once, one sender's in order, never two at once.

On PostgreSQL the workers really run in parallel (each claim takes its row FOR UPDATE SKIP LOCKED); on
SQLite they take turns at the write lock. Each worker stands for a process of its own (its own holder).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from bot.app import QUEUED, create_app, inbox_workers
from bot.backlog import Backlog
from handlers.routing.router import route
from storage.db import transaction
from storage.models import InboundMessage
from tests.conftest import make_settings, pushes
from tests.support import WeChatServer

RESIDENTS = ("demo-resident-zhang", "demo-resident-liu", "demo-resident-sun")
WORKERS, EACH = 4, 8


def test_workers_in_parallel_finish_each_message_once_in_each_senders_order(
    tmp_path, factory, clock, classifier
) -> None:
    settings = make_settings(tmp_path, GRIDDESK_INBOX_QUEUE_AFTER_SECONDS="1")
    lock, running, handled = threading.Lock(), set(), []

    def watched(services, incoming):
        """The real router, noting whose message is in hand: two of one sender at once is a failure."""
        with lock:
            assert incoming.openid not in running, f"two messages of {incoming.openid} at once"
            running.add(incoming.openid)
        try:
            time.sleep(0.01)  # long enough for a rival worker to try the same sender
            return route(services, incoming)
        finally:
            with lock:
                running.discard(incoming.openid)
                handled.append((incoming.openid, incoming.message_id))

    ticks = [0.0]
    backlog = Backlog(lambda: ticks[0])
    apps = [
        create_app(settings, factory, classifier, clock, router=watched, backlog=backlog)
        for _ in range(WORKERS)
    ]
    wechat = WeChatServer(apps[0].test_client(), settings.wechat, clock)
    with backlog.in_hand():
        ticks[0] += 5
        for n in range(EACH):
            for openid in RESIDENTS:
                assert wechat.say(openid, f"楼道灯坏了 第{n}次") == QUEUED.request

    with ThreadPoolExecutor(WORKERS) as pool:
        taken = sum(pool.map(lambda app: inbox_workers(app).drain(), apps))

    assert taken == EACH * len(RESIDENTS) == len(handled)
    for openid in RESIDENTS:
        ids = [message_id for sender, message_id in handled if sender == openid]
        assert ids == sorted(ids) and len(ids) == EACH
    with transaction(factory) as session:
        statuses = set(session.scalars(select(InboundMessage.status)))
    assert statuses == {"handled"}
    receipts = [p for p in pushes(factory) if p.kind == "reply"]
    assert sorted(p.message_id for p in receipts) == sorted(message_id for _, message_id in handled)
