"""A bounded soak: thousands of pushes through a WeChat that fails 30% of calls; all arrive, none twice."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest
from sqlalchemy import func, select, update

from bot.channels import build_messenger
from bot.dispatcher import dispatch_due
from config.settings import DispatcherSettings
from storage.db import transaction
from storage.models import OutboxMessage, Resident, Worker
from storage.outbox import queue_push

PUSHES = 2000
# Four pushes each: the share of WeChat's 5 customer-service messages a window leaves routine news (the
# fifth is kept for emergencies and receipts; more would be folded: test_delivery_budget.py).
RESIDENTS = 250
FAILURE_RATE = 0.30
POLICY = DispatcherSettings(
    interval_seconds=1, batch_size=500, max_attempts=20, backoff_seconds=1, lease_seconds=60
)


def text_of(payload: dict) -> str:
    """The push text as it shows in the fake's log, for any channel."""
    if "template_id" in payload:
        return payload["data"]["keyword1"]["value"]
    return payload.get("text", {}).get("content", "").split("\n")[0]


def items_in_digest(text: str) -> int:
    """How many pushes a digest's first line says it carries ("【工单汇总】200条新消息")."""
    return int(re.fullmatch(r"【工单汇总】(\d+)条新消息", text)[1])  # type: ignore[index]


@pytest.mark.slow
def test_soak_every_push_arrives_exactly_once_through_a_flaky_wechat(
    factory, clock, live, fake_wechat, delivery_report
) -> None:
    with transaction(factory) as session:
        session.execute(
            update(Worker).where(Worker.openid == "demo-worker-wang").values(wecom_userid="wang.fang")
        )
        workers = list(session.scalars(select(Worker).order_by(Worker.id)))
        residents = [
            Resident(openid=f"o-soak-{n:03d}", name=f"居民{n}", created_at=clock(), last_message_at=clock())
            for n in range(RESIDENTS)
        ]
        session.add_all(residents)
        session.flush()
        for n in range(PUSHES):
            text = f"【推送】#{n}\n第{n}条"
            if n % 2:
                queue_push(session, clock(), kind="status", text=text, resident=residents[n // 2 % RESIDENTS])
            else:
                queue_push(session, clock(), kind="new_ticket", text=text, worker=workers[n % len(workers)])
    for resident in residents:
        fake_wechat.user_wrote(resident.openid)
    fake_wechat.fail_randomly(FAILURE_RATE, seed=20261123, errcodes=(-1, -1, 40001))
    messenger = build_messenger(live, factory, clock)

    started, rounds = time.perf_counter(), 0
    while rounds < 50:
        rounds += 1
        result = dispatch_due(factory, messenger, POLICY, clock())
        if not (result.sent or result.retried):
            break
        clock.advance(minutes=10)
    elapsed = time.perf_counter() - started

    with transaction(factory) as session:
        by_status = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        sent = OutboxMessage.status == "sent"
        by_channel = select(OutboxMessage.channel, func.count()).where(sent).group_by(OutboxMessage.channel)
        statuses = {status: count for status, count in session.execute(by_status)}
        channels = {channel: count for channel, count in session.execute(by_channel)}
        tries = session.scalar(select(func.sum(OutboxMessage.attempts))) or 0
    texts = [text_of(s.payload) for s in fake_wechat.sent]
    # A worker's 200 pushes waiting at once are a burst: folded into digests, each delivered once.
    digests = [text for text in texts if text.startswith("【工单汇总】")]
    delivered = Counter(text for text in texts if not text.startswith("【工单汇总】"))
    folded = statuses.get("folded", 0)
    assert statuses == {"sent": PUSHES - folded + len(digests), "folded": folded}
    assert len(delivered) + sum(items_in_digest(text) for text in digests) == PUSHES
    assert max(delivered.values()) == 1 and fake_wechat.dropped == []
    assert fake_wechat.injected_failures > 0.2 * fake_wechat.api_calls
    token_fetches = fake_wechat.token_fetches + fake_wechat.wecom_token_fetches
    delivery_report.append(
        f"soak: {PUSHES} pushes ({', '.join(f'{k} {v}' for k, v in sorted(channels.items()))}; "
        f"{folded} to workers folded into {len(digests)} digests) "
        f"in {elapsed:.1f}s over {rounds} dispatcher runs; WeChat API calls {fake_wechat.api_calls}, "
        f"failed on purpose {fake_wechat.injected_failures} ({FAILURE_RATE:.0%} asked), "
        f"retries {tries - statuses['sent']}, token fetches {token_fetches}, delivered twice 0"
    )
