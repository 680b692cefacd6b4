"""The outbox dispatcher delivers pushes later, retries failures with backoff, and gives up loudly."""

from __future__ import annotations

import io
import random
import time
from datetime import timedelta

from bot.dispatcher import backoff, dispatch_due
from bot.messenger import ConsoleMessenger, Push, SendError
from config.settings import DispatcherSettings
from tests.conftest import pushes

POLICY = DispatcherSettings(interval_seconds=1, batch_size=50, max_attempts=3, backoff_seconds=10)


class FlakyMessenger:
    """Fails the first `failures` sends, then delivers; records what was delivered."""

    channel = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.delivered: list[Push] = []

    def send(self, push: Push) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise SendError("WeChat timed out")
        self.delivered.append(push)


def test_console_messenger_prints_the_push_and_marks_it_sent(wechat, factory, clock) -> None:
    wechat.say("demo-resident-zhang", "家里水管漏了")
    out = io.StringIO()
    result = dispatch_due(factory, ConsoleMessenger(out), POLICY, clock())
    assert result.sent == 1
    assert "推送 → 王芳(demo-worker-wang)" in out.getvalue() and "家里水管漏了" in out.getvalue()
    [row] = pushes(factory)
    assert (row.status, row.channel, row.attempts, row.sent_at) == ("sent", "console", 1, clock())
    assert dispatch_due(factory, ConsoleMessenger(out), POLICY, clock()).sent == 0


def test_failed_push_is_retried_after_backoff(wechat, factory, clock) -> None:
    wechat.say("demo-resident-zhang", "家里水管漏了")
    messenger = FlakyMessenger(failures=1)
    started = time.monotonic()
    assert dispatch_due(factory, messenger, POLICY, clock()).retried == 1
    # The backoff counts from when the send failed: the run's start plus the time it took to get there.
    took = timedelta(seconds=time.monotonic() - started)
    [row] = pushes(factory)
    assert row.status == "pending" and row.last_error == "WeChat timed out"
    assert timedelta(seconds=8) <= row.next_attempt_at - clock() <= timedelta(seconds=12) + took
    assert dispatch_due(factory, messenger, POLICY, clock()).sent == 0  # not due yet
    clock.advance(seconds=13 + took.total_seconds())
    assert dispatch_due(factory, messenger, POLICY, clock()).sent == 1
    assert len(messenger.delivered) == 1 and pushes(factory)[0].status == "sent"


def test_push_is_dead_after_max_attempts(wechat, factory, clock) -> None:
    wechat.say("demo-resident-zhang", "家里水管漏了")
    messenger = FlakyMessenger(failures=99)
    for _ in range(POLICY.max_attempts):
        dispatch_due(factory, messenger, POLICY, clock())
        clock.advance(minutes=10)
    [row] = pushes(factory)
    assert (row.status, row.attempts) == ("dead", 3)
    assert dispatch_due(factory, messenger, POLICY, clock()).sent == 0


def test_emergency_pushes_go_out_first(wechat, factory, clock) -> None:
    wechat.say("demo-resident-liu", "空调不制冷")
    wechat.say("demo-resident-zhang", "家里着火了")
    messenger = FlakyMessenger(failures=0)
    dispatch_due(factory, messenger, POLICY, clock())
    assert [p.kind for p in messenger.delivered] == ["emergency", "emergency", "new_ticket"]


def test_backoff_doubles_with_jitter() -> None:
    rng = random.Random(7)
    delays = [backoff(n, 10, rng).total_seconds() for n in (1, 2, 3, 4)]
    for attempt, delay in enumerate(delays, start=1):
        assert 0.8 * 10 * 2 ** (attempt - 1) <= delay <= 1.2 * 10 * 2 ** (attempt - 1)
