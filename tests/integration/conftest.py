"""Integration plumbing: a fake WeChat on loopback, live-mode settings pointing at it, printed figures."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from bot.channels import build_messenger
from bot.dispatcher import DispatchResult, dispatch_due
from config.sections import DispatcherSettings
from config.settings import Settings, load_settings
from storage.db import make_engine, make_session_factory
from tests.conftest import add_to_summary, database_url
from tests.fakewechat import TEMPLATE_IDS, FakeWeChat
from tests.support import WeChatServer


@pytest.fixture
def delivery_report(request: pytest.FixtureRequest) -> Iterator[list[str]]:
    """Lines a test appends to, printed in the terminal summary (e.g. the soak test's figures)."""
    lines: list[str] = []
    yield lines
    add_to_summary(request, "delivery figures", lines)


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    """A local WeChat (Official Account and WeCom APIs) on a free loopback port."""
    fake = FakeWeChat(templates=TEMPLATE_IDS.values()).start()
    fake.add_wecom_user("wang.fang")
    yield fake
    fake.stop()


@pytest.fixture
def wechat(wechat: WeChatServer, fake_wechat: FakeWeChat) -> WeChatServer:
    """The webhook's WeChat, telling the fake WeChat of each message (it opens the sender's window)."""
    wechat.listeners.append(fake_wechat.heard)
    return wechat


def live_env(tmp_path: Path, fake: FakeWeChat, **env: str) -> dict[str, str]:
    """GRIDDESK_* variables for live mode on the test's database file, every WeChat API at the fake."""
    templates = {f"GRIDDESK_TEMPLATES_{name.upper()}_ID": tid for name, tid in TEMPLATE_IDS.items()}
    pointed = {
        "GRIDDESK_DATABASE_URL": database_url(tmp_path / "griddesk.db"),
        "GRIDDESK_WECHAT_APPID": fake.appid,
        "GRIDDESK_WECHAT_SECRET": fake.secret,
        "GRIDDESK_WECOM_CORP_ID": fake.corp_id,
        "GRIDDESK_WECOM_SECRET": fake.corp_secret,
        "GRIDDESK_WECOM_AGENT_ID": str(fake.agent_id),
        "GRIDDESK_DELIVERY_API_BASE_URL": fake.mp_base_url,
        "GRIDDESK_DELIVERY_WECOM_API_BASE_URL": fake.wecom_base_url,
        "GRIDDESK_DELIVERY_REQUEST_TIMEOUT_SECONDS": "2",
        "GRIDDESK_DELIVERY_MEDIA_DIR": str(tmp_path / "media"),
    }
    return pointed | templates | env


def live_settings(tmp_path: Path, fake: FakeWeChat, **env: str) -> Settings:
    """Live-mode settings on the test's database file (the `factory` fixture's), pointed at the fake."""
    return load_settings(environ=live_env(tmp_path, fake, **env))


@pytest.fixture
def live(tmp_path: Path, fake_wechat: FakeWeChat) -> Settings:
    """Live-mode settings against the fake WeChat (same database file as the `factory` fixture)."""
    return live_settings(tmp_path, fake_wechat)


def dispatchers_side_by_side(
    env: dict[str, str],
    clock: Callable[[], datetime],
    policies: Sequence[DispatcherSettings],
    processes: int = 2,
) -> list[DispatchResult]:
    """`processes` dispatchers, each with its own engine and messenger as separate processes have, set off
    at the same instant; each runs once per policy, in turn. Their results, all of them."""
    start, results = threading.Barrier(processes), []

    def run() -> None:
        engine = make_engine(load_settings(environ=env).database_url)
        try:
            own = make_session_factory(engine)
            messenger = build_messenger(load_settings(environ=env), own, clock)
            start.wait()
            results.extend(dispatch_due(own, messenger, policy, clock()) for policy in policies)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(processes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
