"""One access token for every process: read from the database, refreshed by whoever holds the lease."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.tokens import TokenStore, TokenUnavailable
from storage.db import make_engine, make_session_factory, transaction
from storage.models import AccessToken


class Fetcher:
    """Hands out numbered tokens and counts how often it was asked."""

    def __init__(self, expires_in: int = 7200) -> None:
        self.count = 0
        self.forced: list[bool] = []
        self.expires_in = expires_in
        self._lock = threading.Lock()

    def __call__(self, force: bool) -> tuple[str, int]:
        with self._lock:
            self.count += 1
            self.forced.append(force)
            return f"token-{self.count}", self.expires_in


class ProcessKilled(BaseException):
    """The process died in the middle of fetching."""


@pytest.fixture
def other_factory(settings, factory) -> Iterator[sessionmaker[Session]]:
    """A second engine on the same database file, as another process would have."""
    engine = make_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


def test_a_second_process_reads_the_token_the_first_one_fetched(factory, other_factory) -> None:
    fetch = Fetcher()
    assert TokenStore(factory, "mp:wx1", fetch).token() == "token-1"
    assert TokenStore(other_factory, "mp:wx1", fetch).token() == "token-1"
    assert fetch.count == 1


def test_many_threads_with_their_own_engines_fetch_once(settings, factory) -> None:
    fetch, tokens, start = Fetcher(), [], threading.Barrier(6)
    engines = [make_engine(settings.database_url) for _ in range(6)]

    def take(engine) -> None:
        store = TokenStore(make_session_factory(engine), "mp:wx1", fetch)
        start.wait()
        tokens.append(store.token())

    threads = [threading.Thread(target=take, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for engine in engines:
        engine.dispose()
    assert tokens == ["token-1"] * 6 and fetch.count == 1


def test_a_rejected_token_is_replaced_once_even_when_both_processes_report_it(factory, other_factory) -> None:
    fetch = Fetcher()
    first, second = TokenStore(factory, "mp:wx1", fetch), TokenStore(other_factory, "mp:wx1", fetch)
    assert first.token() == second.token() == "token-1"
    first.invalidate("token-1")
    assert first.token() == "token-2"
    second.invalidate("token-1")  # too late: the other process already replaced it
    assert second.token() == "token-2" and fetch.count == 2


def test_a_refused_token_is_replaced_by_a_forced_fetch_and_an_expired_one_is_not(factory) -> None:
    now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    fetch = Fetcher()
    store = TokenStore(factory, "mp:wx1", fetch, clock=lambda: now)
    store.token()
    store.invalidate("token-1")
    assert store.token() == "token-2"
    now += timedelta(hours=3)
    assert store.token() == "token-3"
    assert fetch.forced == [False, True, False]


def test_a_lease_left_by_a_killed_process_runs_out_and_another_fetches(factory, other_factory) -> None:
    def killed(_force: bool) -> tuple[str, int]:
        raise ProcessKilled

    lease = timedelta(milliseconds=300)
    with pytest.raises(ProcessKilled):
        TokenStore(factory, "mp:wx1", killed, lease=lease).token()
    fetch = Fetcher()
    assert TokenStore(other_factory, "mp:wx1", fetch, lease=lease, poll_seconds=0.01).token() == "token-1"


def test_a_failed_fetch_hands_the_lease_back_at_once(factory, other_factory) -> None:
    def refused(_force: bool) -> tuple[str, int]:
        raise ConnectionError("WeChat is down")

    with pytest.raises(ConnectionError):
        TokenStore(factory, "mp:wx1", refused).token()
    assert TokenStore(other_factory, "mp:wx1", Fetcher(), lease=timedelta(seconds=30)).token() == "token-1"


def test_a_waiting_process_gives_up_when_the_refresher_never_finishes(factory, other_factory) -> None:
    with transaction(factory) as session:
        far = datetime.now(UTC) + timedelta(minutes=5)
        session.add(AccessToken(key="mp:wx1", refresh_owner="someone", refresh_until=far))
    store = TokenStore(
        other_factory, "mp:wx1", Fetcher(), lease=timedelta(milliseconds=200), poll_seconds=0.01
    )
    with pytest.raises(TokenUnavailable):
        store.token()


def test_tokens_are_used_until_shortly_before_they_expire(factory) -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    store = TokenStore(factory, "mp:wx1", Fetcher(), clock=lambda: now)
    store.token()
    with transaction(factory) as session:
        assert session.get_one(AccessToken, "mp:wx1").expires_at == now + timedelta(seconds=7200 - 300)
    short = TokenStore(factory, "mp:wx2", Fetcher(expires_in=120), clock=lambda: now)
    short.token()
    with transaction(factory) as session:
        row = session.get_one(AccessToken, "mp:wx2")
        assert row.expires_at == now + timedelta(seconds=60) and row.fetches == 1
