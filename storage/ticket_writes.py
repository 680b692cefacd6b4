"""A new ticket and its audit trail, written without the unit of work.

Every new ticket is one INSERT returning the persistent Ticket, and each line of its audit trail one Core
INSERT built once. Nothing reads an event back in the transaction that writes it, and a new ticket has no
other pending object to order its INSERT against, so the unit of work's flush (about a fifth of a new
ticket's cost) buys nothing here.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, insert
from sqlalchemy.orm import Session

from storage.models import Ticket, TicketEvent


def insert_ticket(session: Session, row: dict[str, Any]) -> Ticket:
    """INSERT one ticket from its column values; the Ticket returned is persistent in the session."""
    return session.scalars(_new_ticket(), [row]).one()


@cache
def _new_ticket() -> Any:
    return insert(Ticket).returning(Ticket)


def add_ticket_event(
    session: Session, ticket_id: int, kind: str, actor: str, note: str | None, at: datetime
) -> None:
    """Append one line to ticket `ticket_id`'s audit trail in the session's transaction."""
    row = {"ticket_id": ticket_id, "kind": kind, "actor": actor, "note": note, "created_at": at}
    session.connection().execute(_insert(), row)


@cache
def _insert() -> Insert:
    return insert(TicketEvent.__table__)
