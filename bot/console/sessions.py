"""Console sessions kept in the database: the cookie names one, and ending it there ends it everywhere."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.console.links import may_sign_in, token_hash
from storage.models import ConsoleSession, StaffAccount, Worker

TOKEN_BYTES = 32


def open_session(session: Session, worker_id: int, account_id: int | None, now: datetime, hours: int) -> str:
    """Record a new session and return its token (for the cookie; only its hash is stored)."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        ConsoleSession(
            token_hash=token_hash(token),
            worker_id=worker_id,
            account_id=account_id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    return token


def live_session(session: Session, token: str, now: datetime) -> tuple[Worker, StaffAccount | None] | None:
    """The person a session token stands for, while it is open, unexpired and they may still sign in."""
    if not token or len(token) > 100:
        return None
    row = session.scalar(select(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token)))
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    worker = session.get(Worker, row.worker_id)
    if worker is None or not may_sign_in(session, worker):
        return None
    account = session.get(StaffAccount, row.account_id) if row.account_id is not None else None
    return worker, account


def end_session(session: Session, token: str, now: datetime) -> None:
    """Sign one session out."""
    session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.token_hash == token_hash(token), ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


def end_sessions(session: Session, worker_id: int, now: datetime) -> int:
    """Sign out every session of one person, password and push-link ones alike; returns how many."""
    ended = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.worker_id == worker_id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return ended.rowcount
