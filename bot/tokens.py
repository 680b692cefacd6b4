"""One access token per WeChat app, shared by every GridDesk process through the database.

WeChat invalidates a token when a new one is fetched the classic way, so processes that each refresh
on their own knock each other out. Here a process first reads the stored token; only when it is missing
or about to expire does one process (the one whose conditional UPDATE takes the refresh lease) fetch a
new one, while the others wait a moment and read what it stored.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import transaction
from storage.models import AccessToken

log = logging.getLogger(__name__)

# Fetches a new token from WeChat: (token, seconds it lives); True forces a new one (the old was refused).
TokenFetch = Callable[[bool], tuple[str, int]]


class TokenUnavailable(RuntimeError):
    """No token: another process holds the refresh lease and has not stored a token in time."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class TokenStore:
    """A database-backed access token that one process at a time may refresh."""

    factory: sessionmaker[Session]
    key: str
    fetch: TokenFetch
    clock: Callable[[], datetime] = _utc_now
    # Stop using a token this long before WeChat says it expires.
    margin: timedelta = timedelta(minutes=5)
    lease: timedelta = timedelta(seconds=30)
    poll_seconds: float = 0.05
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    _cached: tuple[str, datetime] | None = field(default=None, init=False, repr=False)
    _row_ready: bool = field(default=False, init=False, repr=False)

    def token(self) -> str:
        """A usable token: cached, stored by any process, or fetched now by whoever wins the lease."""
        if self._cached is not None and self._cached[1] > self.clock():
            return self._cached[0]
        self._ensure_row()
        give_up_at = time.monotonic() + self.lease.total_seconds()
        while True:
            stored = self._read()
            if stored is not None:
                return stored
            if self._take_lease():
                return self._refresh()
            if time.monotonic() > give_up_at:
                raise TokenUnavailable(f"no access token for {self.key}: another process is refreshing it")
            time.sleep(self.poll_seconds)

    def invalidate(self, token: str) -> None:
        """Forget a token WeChat rejected, unless another process has already replaced it."""
        self._cached = None
        forget = (
            update(AccessToken)
            .where(AccessToken.key == self.key, AccessToken.token == token)
            .values(token=None, expires_at=None)
            .execution_options(synchronize_session=False)
        )
        with transaction(self.factory) as session:
            session.execute(forget)

    def _ensure_row(self) -> None:
        if self._row_ready:
            return
        try:
            with transaction(self.factory) as session:
                if session.get(AccessToken, self.key) is None:
                    session.add(AccessToken(key=self.key))
        except IntegrityError:
            pass  # another process created it first
        self._row_ready = True

    def _read(self) -> str | None:
        with transaction(self.factory) as session:
            row = session.get_one(AccessToken, self.key)
            if row.token and row.expires_at and row.expires_at > self.clock():
                self._cached = (row.token, row.expires_at)
                return row.token
        return None

    def _take_lease(self) -> bool:
        now = self.clock()
        take = (
            update(AccessToken)
            .where(
                AccessToken.key == self.key,
                # Only while the token is still missing: a refresh finished meanwhile wins.
                or_(AccessToken.token.is_(None), AccessToken.expires_at <= now),
                or_(AccessToken.refresh_until.is_(None), AccessToken.refresh_until < now),
            )
            .values(refresh_owner=self.owner, refresh_until=now + self.lease)
            .execution_options(synchronize_session=False)
        )
        with transaction(self.factory) as session:
            return session.execute(take).rowcount == 1

    def _was_refused(self) -> bool:
        """True when the stored token was dropped because WeChat refused it, not because it expired."""
        with transaction(self.factory) as session:
            row = session.get_one(AccessToken, self.key)
            return row.token is None and row.fetched_at is not None

    def _refresh(self) -> str:
        mine = and_(AccessToken.key == self.key, AccessToken.refresh_owner == self.owner)
        try:
            token, expires_in = self.fetch(self._was_refused())
        except Exception:
            with transaction(self.factory) as session:
                release = update(AccessToken).where(mine).values(refresh_owner=None, refresh_until=None)
                session.execute(release.execution_options(synchronize_session=False))
            raise
        now = self.clock()
        # A token fetched near its end comes back with little time left: use half of it, not none.
        use_until = now + timedelta(seconds=expires_in) - min(self.margin, timedelta(seconds=expires_in / 2))
        store = (
            update(AccessToken)
            .where(mine)
            .values(
                token=token,
                expires_at=use_until,
                fetched_at=now,
                fetches=AccessToken.fetches + 1,
                refresh_owner=None,
                refresh_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        with transaction(self.factory) as session:
            session.execute(store)
        log.info("fetched a new access token for %s", self.key)
        self._cached = (token, use_until)
        return token
