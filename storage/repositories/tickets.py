"""Queries about tickets and their audit trail (TicketEvent).

A new ticket is one INSERT returning the persistent Ticket, and each line of its audit trail one Core
INSERT built once. Nothing reads an event back in the transaction that writes it, and a new ticket has no
other pending object to order its INSERT against, so the unit of work's flush (about a fifth of a new
ticket's cost) buys nothing there.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Insert, Select, bindparam, func, insert, select
from sqlalchemy.orm import Session

from storage.models import Grid, Ticket, TicketEvent


def open_of(session: Session, resident_id: int, statuses: tuple[str, ...]) -> list[Ticket]:
    """The resident's tickets in these statuses (the open ones), newest first."""
    return list(session.scalars(_of_resident_in(statuses), {"resident_id": resident_id}))


@cache
def _of_resident_in(statuses: tuple[str, ...]) -> Select[tuple[Ticket]]:
    """Built once (per tuple of statuses): every resident message asks it."""
    return (
        select(Ticket)
        .where(Ticket.resident_id == bindparam("resident_id"), Ticket.status.in_(statuses))
        .order_by(Ticket.id.desc())
    )


def unrated_of(session: Session, resident_id: int) -> Ticket | None:
    """The resident's most recently resolved ticket that has not been rated yet."""
    return session.scalars(_unrated_of(), {"resident_id": resident_id}).first()


@cache
def _unrated_of() -> Select[tuple[Ticket]]:
    """Built once: every resident message asks it."""
    return (
        select(Ticket)
        .where(Ticket.resident_id == bindparam("resident_id"), Ticket.status == "resolved")
        .where(Ticket.rating.is_(None))
        .order_by(Ticket.resolved_at.desc(), Ticket.id.desc())
    )


def open_and_unrated_of(
    session: Session, resident_id: int, statuses: tuple[str, ...]
) -> tuple[list[Ticket], Ticket | None]:
    """open_of and unrated_of in one query: the open tickets newest first, and the ticket to rate."""
    rows = list(session.scalars(_open_or_unrated_of(statuses), {"resident_id": resident_id}))
    unrated = [ticket for ticket in rows if ticket.status == "resolved" and ticket.rating is None]
    opened = [ticket for ticket in rows if ticket.status in statuses]
    return opened, max(unrated, key=_latest_resolved, default=None)


def _latest_resolved(ticket: Ticket) -> tuple[bool, datetime | None, int]:
    """unrated_of's order as a key: resolved_at, then id (resolving stamps the time; a missing one loses)."""
    return ticket.resolved_at is not None, ticket.resolved_at, ticket.id


@cache
def _open_or_unrated_of(statuses: tuple[str, ...]) -> Select[tuple[Ticket]]:
    """Built once: every resident message that gets past the rating route asks both questions."""
    unrated = (Ticket.status == "resolved") & Ticket.rating.is_(None)
    return (
        select(Ticket)
        .where(Ticket.resident_id == bindparam("resident_id"), Ticket.status.in_(statuses) | unrated)
        .order_by(Ticket.id.desc())
    )


def held_by(session: Session, worker_id: int, statuses: Collection[str]) -> list[Ticket]:
    """The tickets a worker holds in these statuses, by number."""
    query = select(Ticket).where(Ticket.assignee_id == worker_id, Ticket.status.in_(statuses))
    return list(session.scalars(query.order_by(Ticket.id)))


def most_pressing_held_by(
    session: Session, worker_id: int, statuses: Collection[str], limit: int
) -> list[Ticket]:
    """The tickets a worker holds in these statuses, the earliest sign-for deadline first."""
    query = (
        select(Ticket)
        .where(Ticket.assignee_id == worker_id, Ticket.status.in_(statuses))
        .order_by(Ticket.ack_due_at, Ticket.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def held_in_grid(session: Session, grid_id: int, worker_id: int, statuses: Collection[str]) -> list[Ticket]:
    """The tickets of one grid a worker holds in these statuses, by number."""
    query = select(Ticket).where(
        Ticket.grid_id == grid_id, Ticket.assignee_id == worker_id, Ticket.status.in_(statuses)
    )
    return list(session.scalars(query.order_by(Ticket.id)))


def assigned_to_backup(session: Session, worker_id: int, backup_id: int | None) -> list[Ticket]:
    """Tickets of the worker's grids, status assigned, held by their backup rather than by them."""
    grid_ids = select(Grid.id).where(Grid.worker_id == worker_id)
    query = select(Ticket).where(
        Ticket.grid_id.in_(grid_ids),
        Ticket.status == "assigned",
        Ticket.assignee_id != worker_id,
        Ticket.assignee_id == backup_id,
    )
    return list(session.scalars(query.order_by(Ticket.id)))


def event_after(session: Session, ticket_id: int, kind: str, since: datetime) -> bool:
    """Whether the ticket has an event of this kind strictly after `since` (without flushing first)."""
    query = select(TicketEvent.id).where(
        TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind, TicketEvent.created_at > since
    )
    with session.no_autoflush:
        return session.scalar(query.limit(1)) is not None


def event_since(session: Session, ticket_id: int, kind: str, since: datetime | None) -> bool:
    """Whether the ticket has an event of this kind at or after `since`."""
    query = select(TicketEvent.id).where(
        TicketEvent.ticket_id == ticket_id,
        TicketEvent.kind == kind,
        TicketEvent.created_at >= since,
    )
    return session.scalar(query.limit(1)) is not None


def count_events(session: Session, ticket_id: int, kind: str) -> int:
    """How many events of this kind the ticket has."""
    query = (
        select(func.count())
        .select_from(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind)
    )
    return session.scalar(query) or 0


def last_acted_on(session: Session, actor: str, kinds: Collection[str], since: datetime) -> int | None:
    """The ticket an actor last left one of these events on, since then; None when none."""
    query = (
        select(TicketEvent.ticket_id)
        .where(
            TicketEvent.actor == actor,
            TicketEvent.kind.in_(kinds),
            TicketEvent.created_at >= since,
        )
        .order_by(TicketEvent.created_at.desc(), TicketEvent.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def ids_where(session: Session, conditions: Sequence[ColumnElement[bool]]) -> list[int]:
    """The ids of the tickets meeting every condition, in order."""
    return list(session.scalars(select(Ticket.id).where(*conditions).order_by(Ticket.id)))


def one_where(session: Session, ticket_id: int, conditions: Sequence[ColumnElement[bool]]) -> Ticket | None:
    """The ticket, if it still meets every condition."""
    query = select(Ticket).where(Ticket.id == ticket_id, *conditions)
    return session.scalars(query).one_or_none()


def last_note(session: Session, ticket_id: int, kinds: Collection[str]) -> str | None:
    """The note of the ticket's newest event of these kinds that has one."""
    query = (
        select(TicketEvent.note)
        .where(
            TicketEvent.ticket_id == ticket_id,
            TicketEvent.kind.in_(kinds),
            TicketEvent.note.is_not(None),
        )
        .order_by(TicketEvent.id.desc())
    )
    return session.scalars(query).first()


def latest_events(session: Session, ticket_id: int, limit: int) -> list[TicketEvent]:
    """The ticket's newest audit events, newest first."""
    query = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


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
    add_ticket_events(session, ticket_id, [(kind, actor, note)], at)


def add_ticket_events(
    session: Session, ticket_id: int, lines: list[tuple[str, str, str | None]], at: datetime
) -> None:
    """Append (kind, actor, note) lines to ticket `ticket_id`'s audit trail in one statement."""
    rows = [
        {"ticket_id": ticket_id, "kind": kind, "actor": actor, "note": note, "created_at": at}
        for kind, actor, note in lines
    ]
    session.connection().execute(_new_event(), rows)


@cache
def _new_event() -> Insert:
    return insert(TicketEvent.__table__)
