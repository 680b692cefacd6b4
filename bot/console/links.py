"""One-time sign-in links in pushes: {base_url}/console/go/<token> signs a worker in and opens the ticket."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config.settings import ConsoleSettings
from storage.models import ConsoleLink, Ticket, Worker

TOKEN_BYTES = 24
LINK_PATH = "/console/go/"


def token_hash(token: str) -> str:
    """What is stored instead of the token: its SHA-256, so a database leak signs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(
    session: Session, console: ConsoleSettings, now: datetime, worker_id: int, ticket_id: int | None
) -> str | None:
    """A fresh one-time link for this worker (and ticket), or None when no base_url is configured."""
    base = console.base_url.rstrip("/")
    if not base:
        return None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        ConsoleLink(
            token_hash=token_hash(token),
            worker_id=worker_id,
            ticket_id=ticket_id,
            created_at=now,
            expires_at=now + timedelta(hours=console.link_hours),
        )
    )
    return f"{base}{LINK_PATH}{token}"


def with_link(
    session: Session,
    console: ConsoleSettings,
    now: datetime,
    text: str,
    worker: Worker | None,
    ticket: Ticket | None,
) -> str:
    """A push's text with the worker's one-time link to the ticket, when the console has an address."""
    if worker is None or worker.id is None or ticket is None or ticket.id is None:
        return text
    link = issue_link(session, console, now, worker.id, ticket.id)
    return f"{text}\n网页处理:{link}" if link else text


def redeem_link(session: Session, token: str, now: datetime) -> ConsoleLink | None:
    """The link for a token if it is unused and unexpired, marking it used; None otherwise."""
    if not token or len(token) > 100:
        return None
    link = session.scalar(select(ConsoleLink).where(ConsoleLink.token_hash == token_hash(token)))
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    holder = session.get(Worker, link.worker_id)
    if holder is None or holder.left_at is not None:
        return None
    # Conditional update: of two requests racing with the same token, exactly one wins.
    claimed = session.execute(
        update(ConsoleLink)
        .where(ConsoleLink.id == link.id, ConsoleLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return link if claimed.rowcount == 1 else None
