"""Per-client rate limits kept in the database, so every web process counts against the same limit.

Each key has one row: when its window began and how many requests it has counted. One UPDATE both
counts the request and, when the window has run out, starts a new one; it runs under the row's lock,
so simultaneous requests in several processes are each counted exactly once (on SQLite as on PostgreSQL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import update

from storage.db import transaction
from storage.models import RequestCount, UTCDateTime

WINDOW = timedelta(minutes=1)
# A window start long gone: the first request of a new key always opens a fresh window.
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Verdict:
    """Whether a request may go ahead, and if not, in how many seconds the client may try again."""

    allowed: bool
    retry_after: int = 0


def count_request(factory: sessionmaker[Session], key: str, limit: int, now: datetime) -> Verdict:
    """Count one request of `key` in its one-minute window; refused past `limit` (0: no limit)."""
    if limit <= 0:
        return Verdict(True)
    with transaction(factory) as session:
        _ensure_row(session, key)
        expired = RequestCount.window_started_at <= now - WINDOW
        moment = literal(now, UTCDateTime())
        counted = session.execute(
            update(RequestCount)
            .where(RequestCount.key == key)
            .values(
                count=case((expired, 1), else_=RequestCount.count + 1),
                window_started_at=case((expired, moment), else_=RequestCount.window_started_at),
            )
            .returning(RequestCount.count, RequestCount.window_started_at)
            .execution_options(synchronize_session=False)
        ).one()
    if counted.count <= limit:
        return Verdict(True)
    remaining = (counted.window_started_at + WINDOW - now).total_seconds()
    return Verdict(False, max(1, math.ceil(remaining)))


def _ensure_row(session: Session, key: str) -> None:
    """The key's row, inserted once; a process that loses the race to insert it just uses it."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(RequestCount).values(key=key, window_started_at=_NEVER, count=0)
    session.execute(insert.on_conflict_do_nothing(index_elements=["key"]))
