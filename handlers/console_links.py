"""A push about a ticket carries the worker's one-time console link: handlers add its placeholder,
{base_url}/console/go/{link:<id>}, and the dispatcher mints the token as it sends (bot/console/links.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from handlers.domain_settings import ConsoleLinkSettings
from storage.models import ConsoleLink, Ticket, Worker

LINK_PATH = "/console/go/"


def issue_link(
    session: Session, console: ConsoleLinkSettings, now: datetime, worker_id: int, ticket_id: int | None
) -> str | None:
    """A one-time link's placeholder for this worker (and ticket), or None when no base_url is configured."""
    base = console.base_url.rstrip("/")
    if not base:
        return None
    link = ConsoleLink(
        worker_id=worker_id,
        ticket_id=ticket_id,
        created_at=now,
        expires_at=now + timedelta(hours=console.link_hours),
    )
    session.add(link)
    session.flush()
    return f"{base}{LINK_PATH}{{link:{link.id}}}"


def with_link(
    session: Session,
    console: ConsoleLinkSettings,
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
