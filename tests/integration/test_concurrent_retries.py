"""WeChat's retries can arrive while the first copy is still being handled: one ticket, one reply."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from bot.simulator import read_reply, sign, text_xml
from tests.conftest import pushes, tickets
from tests.support import on_loopback


@pytest.fixture
def live_url(app) -> Iterator[str]:
    """The webhook on a real threaded HTTP server on loopback."""
    with on_loopback(app) as base:
        yield f"{base}/wechat"


def test_concurrent_copies_of_one_message_open_one_ticket(live_url, settings, factory) -> None:
    body = text_xml("demo-resident-zhang", "卫生间水管漏水了", msg_id=777001)
    signed = sign(settings.wechat.token, body)
    start = threading.Barrier(4)
    replies: list[str | None] = []
    lock = threading.Lock()

    def deliver() -> None:
        start.wait()
        response = requests.post(live_url, params=signed.params, data=signed.body.encode(), timeout=10)
        assert response.status_code == 200
        with lock:
            replies.append(read_reply(response.text))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    assert len(replies) == 4 and len(set(replies)) == 1 and "#1" in replies[0]
    assert len(tickets(factory)) == 1
    assert len(pushes(factory)) == 1


def test_many_residents_at_once_each_get_their_own_ticket(live_url, settings, factory) -> None:
    residents = [f"o-burst-{n:03d}" for n in range(12)]
    start = threading.Barrier(len(residents))
    statuses: list[int] = []

    def deliver(openid: str) -> None:
        signed = sign(settings.wechat.token, text_xml(openid, "下水道堵了"))
        start.wait()
        response = requests.post(live_url, params=signed.params, data=signed.body.encode(), timeout=15)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=deliver, args=(openid,)) for openid in residents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * len(residents)
    assert sorted(t.resident.openid for t in tickets(factory)) == residents
