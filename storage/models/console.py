"""The staff console: accounts, one-time sign-in links, sessions and sign-in throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base
from storage.models.community import Worker


class StaffAccount(Base):
    """A staff member's console sign-in, tied to their Worker row (created by `run.py staff add`)."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), unique=True)
    login: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # Sessions signed in before a password change stop working.
    password_changed_at: Mapped[datetime]
    last_signin_at: Mapped[datetime | None]

    worker: Mapped[Worker] = relationship()


class ConsoleLink(Base):
    """A one-time console sign-in link sent in a push; only the token's SHA-256 is kept."""

    __tablename__ = "console_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None until the dispatcher sends the push: the token is made at send time and never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in console session: the cookie holds a random token, the database only its SHA-256."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), index=True)
    # None for a session opened by a push link.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("staff_accounts.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Set by signing out, a new password, or the account being disabled.
    ended_at: Mapped[datetime | None]


class SigninThrottle(Base):
    """Recent failed console sign-ins per login and per client address, and how long they are locked out."""

    __tablename__ = "signin_throttle"

    # "login:<login>" or "addr:<ip>".
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
