"""At least once, never twice on purpose: leases across crashes, rival dispatchers, and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import build_messenger
from bot.dispatcher import DispatchResult, dispatch_due
from bot.messenger import Delivery, Messenger, Push, SendError
from config.settings import DispatcherSettings
from storage.db import make_engine, make_session_factory, transaction
from storage.models import OutboxMessage, Resident
from storage.outbox import queue_push
from tests.conftest import pushes
from tests.integration.conftest import live_env
from tests.support import FakeClock

POLICY = DispatcherSettings(
    interval_seconds=1, batch_size=50, max_attempts=3, backoff_seconds=10, lease_seconds=60
)
ROOT = Path(__file__).resolve().parents[2]


class Crash(BaseException):
    """The dispatcher's process dies in the middle of a send."""


class CrashingMessenger:
    """Dies while sending."""

    channel = "crashing"

    def send(self, push: Push) -> Delivery | None:
        raise Crash


class OutlivedMessenger:
    """Sends so slowly that its lease runs out, and another dispatcher takes the row meanwhile."""

    channel = "slow"

    def __init__(
        self, rival: Messenger, factory: sessionmaker[Session], clock: FakeClock, fails: bool
    ) -> None:
        self.rival, self.factory, self.clock, self.fails = rival, factory, clock, fails
        self.rival_result: DispatchResult | None = None

    def send(self, push: Push) -> Delivery | None:
        self.clock.advance(seconds=POLICY.lease_seconds + 1)
        self.rival_result = dispatch_due(self.factory, self.rival, POLICY, self.clock())
        if self.fails:
            raise SendError("timed out at last")
        return None


def test_a_push_held_by_a_dispatcher_that_died_is_sent_once_its_lease_runs_out(
    wechat, factory, clock, live, fake_wechat
) -> None:
    wechat.say("demo-resident-zhang", "卫生间水管漏水了")
    with pytest.raises(Crash):
        dispatch_due(factory, CrashingMessenger(), POLICY, clock())
    [held] = pushes(factory)
    assert (held.status, held.attempts) == ("pending", 1)
    assert held.lease_until is not None and held.lease_until - clock() >= timedelta(seconds=60)
    messenger = build_messenger(live, factory, clock)
    assert dispatch_due(factory, messenger, POLICY, clock()).sent == 0  # still leased
    clock.advance(seconds=61)
    assert dispatch_due(factory, messenger, POLICY, clock()).sent == 1
    clock.advance(hours=1)
    assert dispatch_due(factory, messenger, POLICY, clock()).sent == 0
    [sent] = pushes(factory)
    assert (sent.status, sent.attempts, sent.lease_until) == ("sent", 2, None)
    assert len(fake_wechat.sent) == 1


@pytest.mark.parametrize("slow_one_fails", [True, False])
def test_a_dispatcher_that_lost_its_lease_does_not_undo_the_rivals_delivery(
    wechat, factory, clock, live, fake_wechat, slow_one_fails
) -> None:
    wechat.say("demo-resident-zhang", "卫生间水管漏水了")
    slow = OutlivedMessenger(build_messenger(live, factory, clock), factory, clock, fails=slow_one_fails)
    dispatch_due(factory, slow, POLICY, clock())
    assert slow.rival_result is not None and slow.rival_result.sent == 1
    [row] = pushes(factory)
    assert (row.status, row.channel, row.last_error) == ("sent", "template", None)
    assert len(fake_wechat.sent) == 1


def test_a_crash_on_the_last_try_makes_the_push_dead(wechat, factory, clock, live) -> None:
    wechat.say("demo-resident-zhang", "家里着火了")
    for _ in range(POLICY.max_attempts):
        with pytest.raises(Crash):
            dispatch_due(factory, CrashingMessenger(), POLICY, clock())
        clock.advance(seconds=61)
    # Both pages were claimed together each time, so both ran out of tries in the crashes.
    assert dispatch_due(factory, build_messenger(live, factory, clock), POLICY, clock()).dead == 2
    rows = pushes(factory)
    assert [(r.kind, r.status) for r in rows[:2]] == [("emergency", "dead")] * 2
    assert sorted(r.recipient for r in rows if r.kind == "delivery_failed") == [
        "demo-community-duty",
        "demo-leader-zhao",
    ]


def test_two_dispatchers_on_one_database_never_send_a_push_twice(
    tmp_path, factory, clock, fake_wechat, delivery_report
) -> None:
    count = 300
    with transaction(factory) as session:
        # Residents: a worker's share would be paced and folded (tests/integration/test_staff_pacing.py).
        residents = list(session.query(Resident).order_by(Resident.id))
        for n in range(count):
            queue_push(session, clock(), kind="status", text=f"【提醒】#{n}", resident=residents[n % 3])
    settings_env = live_env(tmp_path, fake_wechat)
    start = threading.Barrier(2)
    results: dict[str, DispatchResult] = {}

    def run(name: str) -> None:
        from config.settings import load_settings

        settings = load_settings(environ=settings_env)
        engine = make_engine(settings.database_url)
        try:
            own = make_session_factory(engine)
            messenger = build_messenger(settings, own, clock)
            policy = DispatcherSettings(1, 20, 3, 10, 60)
            total = DispatchResult()
            start.wait()
            while True:
                result = dispatch_due(own, messenger, policy, clock())
                total.sent += result.sent
                if result.sent == 0:
                    break
            results[name] = total
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    texts = [s.payload["data"]["keyword1"]["value"] for s in fake_wechat.sent]
    assert len(texts) == count and len(set(texts)) == count
    assert results["a"].sent + results["b"].sent == count
    assert {r.status for r in pushes(factory)} == {"sent"}
    assert fake_wechat.token_fetches == 1
    delivery_report.append(
        f"two dispatchers on one database: {count} pushes, sent {results['a'].sent} + {results['b'].sent}, "
        "duplicates in the fake's log 0"
    )


CHILD = """
import sys, time
from pathlib import Path
from bot.wechat_api import official_account_client
from config.settings import load_settings
from storage.db import make_engine, make_session_factory

settings = load_settings()
engine = make_engine(settings.database_url)
client = official_account_client(settings, make_session_factory(engine))
Path(sys.argv[1] + ".ready").touch()
while not Path(sys.argv[1]).exists():
    time.sleep(0.005)
client.message.send_text(sys.argv[2], "你好")
print(client.last_token)
engine.dispose()
"""


@pytest.mark.slow
def test_processes_share_one_token_and_fetch_it_once(tmp_path, factory, fake_wechat) -> None:
    # The classic endpoint is where it matters: a second fetch would invalidate the first process's token.
    env = os.environ | live_env(tmp_path, fake_wechat, GRIDDESK_DELIVERY_TOKEN_ENDPOINT="classic")
    env["PYTHONPATH"] = str(ROOT)
    go = tmp_path / "go"
    openids = ["o-process-a", "o-process-b"]
    for openid in openids:
        fake_wechat.user_wrote(openid)
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(go), openid],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for openid in openids
    ]
    deadline = time.monotonic() + 30
    while not all(Path(f"{go}.ready").exists() for _ in children) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [child.communicate(timeout=30) for child in children]
    assert [child.returncode for child in children] == [0, 0], [err for _, err in outputs]
    tokens = {out.strip() for out, _ in outputs}
    assert len(tokens) == 1
    assert fake_wechat.token_fetches == 1
    assert sorted(s.to for s in fake_wechat.sent) == openids


def test_outbox_rows_carry_no_lease_once_settled(wechat, factory, clock, live) -> None:
    wechat.say("demo-resident-zhang", "卫生间水管漏水了")
    dispatch_due(factory, build_messenger(live, factory, clock), POLICY, clock())
    with transaction(factory) as session:
        row = session.get_one(OutboxMessage, 1)
        assert row.lease_until is None and row.claimed_by is not None
