"""Messages that arrive together: WeChat's retries of one message while the first copy is still being
handled, one resident's messages at the same instant, and many residents at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait

import pytest
import requests
from sqlalchemy import func, select

from bot.app import inbox_workers
from bot.simulator import SignedRequest, read_reply, sign, text_xml
from storage.db import transaction
from storage.models import InboundMessage, Resident
from storage.outbox import queue_push
from tests.conftest import ON_POSTGRESQL, pushes, tickets
from tests.support import on_loopback


@pytest.fixture
def live_url(app) -> Iterator[str]:
    """The webhook on a real threaded HTTP server on loopback."""
    with on_loopback(app) as base:
        yield f"{base}/wechat"


def post_together(url: str, signed: list[SignedRequest]) -> list[requests.Response]:
    """POST every request from its own thread, all released at the same instant; responses in order."""
    start = threading.Barrier(len(signed))
    responses: list[requests.Response | None] = [None] * len(signed)

    def deliver(index: int) -> None:
        start.wait()
        request = signed[index]
        responses[index] = requests.post(url, params=request.params, data=request.body.encode(), timeout=30)

    threads = [threading.Thread(target=deliver, args=(index,)) for index in range(len(signed))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(response is not None for response in responses), "a request did not finish"
    return [response for response in responses if response is not None]


def signed_now(settings, clock, body: str) -> SignedRequest:
    """A body signed as WeChat would, at the time of the app's clock."""
    return sign(settings.wechat.token, body, timestamp=int(clock().timestamp()))


def test_concurrent_copies_of_one_message_open_one_ticket(live_url, settings, factory, clock) -> None:
    """WeChat's retries: the same request, sent again while the first is still being handled."""
    signed = signed_now(settings, clock, text_xml("demo-resident-zhang", "卫生间水管漏水了", msg_id=777001))
    responses = post_together(live_url, [signed] * 4)
    assert [response.status_code for response in responses] == [200] * 4
    replies = {read_reply(response.text) for response in responses}
    assert len(replies) == 1 and "#1" in replies.pop()
    assert len(tickets(factory)) == 1
    assert len(pushes(factory)) == 1


def test_one_residents_messages_at_the_same_instant_open_one_ticket(
    live_url, settings, factory, clock
) -> None:
    """Four different messages about one leak: one ticket, three follow-ups under it, nothing doubled.

    None of them presses ("快来"): a pressing follow-up raises the ticket instead (test_emergency_first).
    """
    texts = ["卫生间水管漏水了", "水管一直在漏水", "家里水管漏水,来看看吧", "漏水越来越大了"]
    signed = [
        signed_now(settings, clock, text_xml("demo-resident-zhang", text, msg_id=778000 + n))
        for n, text in enumerate(texts)
    ]
    responses = post_together(live_url, signed)
    assert [response.status_code for response in responses] == [200] * 4
    replies = [read_reply(response.text) or "" for response in responses]
    assert sum("已收到" in reply for reply in replies) == 1, replies
    assert sum("已在工单 #1 中办理" in reply for reply in replies) == 3, replies
    (ticket,) = tickets(factory)
    assert [event.kind for event in ticket.events].count("follow_up") == 3
    assert sorted(push.kind for push in pushes(factory)) == ["follow_up"] * 3 + ["new_ticket"]


def test_a_new_residents_first_messages_at_once_make_one_resident(live_url, settings, factory, clock) -> None:
    """Someone who has never written sends four messages together: one resident, none lost or failed."""
    signed = [
        signed_now(settings, clock, text_xml("o-first-contact", "楼道灯坏了", msg_id=779000 + n))
        for n in range(4)
    ]
    responses = post_together(live_url, signed)
    assert [response.status_code for response in responses] == [200] * 4
    with transaction(factory) as session:
        residents = session.scalar(select(func.count()).where(Resident.openid == "o-first-contact"))
        statuses = list(
            session.scalars(select(InboundMessage.status).where(InboundMessage.openid == "o-first-contact"))
        )
    assert residents == 1
    assert statuses == ["handled"] * 4
    assert len(tickets(factory)) == 1


def test_many_residents_at_once_each_get_their_own_ticket(app, live_url, settings, factory, clock) -> None:
    residents = [f"o-burst-{n:03d}" for n in range(12)]
    start = threading.Barrier(len(residents))
    statuses: list[int] = []

    def deliver(openid: str) -> None:
        signed = signed_now(settings, clock, text_xml(openid, "下水道堵了"))
        start.wait()
        response = requests.post(live_url, params=signed.params, data=signed.body.encode(), timeout=15)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=deliver, args=(openid,)) for openid in residents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * len(residents)
    # On a busy machine a message that waited past inbox.queue_after_seconds was answered at once and
    # queued: the inbox workers finish it (here, now) before its ticket is there.
    inbox_workers(app).drain()
    assert sorted(t.resident.openid for t in tickets(factory)) == residents


@pytest.mark.skipif(not ON_POSTGRESQL, reason="row locks are PostgreSQL's; SQLite has one writer at a time")
def test_a_message_does_not_wait_for_a_transaction_that_only_points_at_the_resident(
    live_url, settings, factory, clock
) -> None:
    """The morning ping sweep holds its pushes to thousands of residents until it commits: a resident's
    message must not wait for it."""
    signed = signed_now(settings, clock, text_xml("demo-resident-zhang", "卫生间水管漏水了", msg_id=779001))
    with transaction(factory) as session:
        resident = session.scalars(select(Resident).where(Resident.openid == "demo-resident-zhang")).one()
        queue_push(session, clock(), kind="checkin_ping", text="今天身体还好吗?", resident=resident)
        session.flush()  # the outbox row's foreign key now holds KEY SHARE on the resident's row
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(
                requests.post, live_url, params=signed.params, data=signed.body.encode(), timeout=30
            )
            done, _ = wait([answer], timeout=20)
            assert done, "the message waited for the other transaction to end"
            assert "#1" in read_reply(answer.result().text)
