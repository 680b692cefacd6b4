"""Queries behind the reports: aggregate counts per grid or for the community (docs/reports.md).

The definitions (which ticket counts as responded to in time, ...) come in as SQL conditions from
handlers/jobs/reports/; a report's reach comes in as anything with `covers` (handlers' Scope).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import ColumnElement, case, exists, func, literal, select, text
from sqlalchemy.orm import Session

from storage.models import (
    Building,
    CheckIn,
    Grid,
    OutboxMessage,
    Resident,
    Ticket,
    TicketEvent,
    UTCDateTime,
    Visit,
)


class Reach(Protocol):
    """What a report covers, as a condition on a grid id column."""

    def covers(self, grid_id: ColumnElement[int | None]) -> ColumnElement[bool]:
        """The row belongs to the report."""
        ...


def ticket_counts(
    session: Session, scope: Reach, counts: Mapping[str, ColumnElement[bool]], within: ColumnElement[bool]
) -> dict[str, dict[str, int]]:
    """Per category: each named count (a condition on a ticket), over the tickets within the scope."""
    columns = [func.count().filter(condition).label(name) for name, condition in counts.items()]
    query = (
        select(Ticket.category, *columns)
        .where(scope.covers(Ticket.grid_id), within)
        .group_by(Ticket.category)
    )
    return {row.category: {name: row._mapping[name] for name in counts} for row in session.execute(query)}


def overdue_count(
    session: Session, scope: Reach, open_statuses: Collection[str], unsigned: Collection[str], now: datetime
) -> int:
    """Open tickets past the resolve deadline, plus unsigned ones past only the sign-for deadline."""
    # Two counts rather than one OR, so each can use its (status, deadline) index.
    past_resolve = select(func.count()).where(
        scope.covers(Ticket.grid_id), Ticket.status.in_(open_statuses), Ticket.resolve_due_at <= now
    )
    past_ack_only = select(func.count()).where(
        scope.covers(Ticket.grid_id),
        Ticket.status.in_(unsigned),
        Ticket.ack_due_at <= now,
        Ticket.resolve_due_at > now,
    )
    return session.scalar(select(past_resolve.scalar_subquery() + past_ack_only.scalar_subquery())) or 0


def ratings(
    session: Session,
    scope: Reach,
    actor: str,
    satisfied_kind: str,
    unsatisfied_kind: str,
    start: datetime,
    end: datetime,
) -> tuple[int, int]:
    """(rating events by the actor between start and end, of which the satisfied kind)."""
    query = (
        select(func.count(), func.count().filter(TicketEvent.kind == satisfied_kind))
        .select_from(TicketEvent)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            scope.covers(Ticket.grid_id),
            TicketEvent.actor == actor,
            TicketEvent.kind.in_((satisfied_kind, unsatisfied_kind)),
            TicketEvent.created_at >= start,
            TicketEvent.created_at < end,
        )
    )
    rated, satisfied = session.execute(query).one()
    return rated, satisfied


def checkin_counts(session: Session, scope: Reach, start: date, end: date) -> tuple[int, int]:
    """(check-ins pinged for a day from start to before end, of which answered), by the building's grid."""
    pinged = CheckIn.pinged_at.is_not(None)
    query = (
        select(func.count().filter(pinged), func.count().filter(pinged, CheckIn.answered_at.is_not(None)))
        .select_from(CheckIn)
        .join(Resident, Resident.id == CheckIn.resident_id)
        .outerjoin(Building, Building.id == Resident.building_id)
        .where(CheckIn.day >= start, CheckIn.day < end, scope.covers(Building.grid_id))
    )
    total, answered = session.execute(query).one()
    return total, answered


def visit_counts(
    session: Session, scope: Reach, start: datetime, end: datetime, due_before: Mapping[str, datetime]
) -> tuple[int, int]:
    """(households whose last visit before start, else registration, came before their category's
    moment in due_before (hardship, key, ordinary for the rest), of which visited from start to end)."""
    before = (
        select(Visit.resident_id, func.max(Visit.visited_at).label("visited_at"))
        .where(Visit.visited_at < start)
        .group_by(Visit.resident_id)
        .subquery()
    )
    since = func.coalesce(before.c.visited_at, Resident.created_at)
    due = since < _cutoff(due_before)
    visited = exists().where(
        Visit.resident_id == Resident.id, Visit.visited_at >= start, Visit.visited_at < end
    )
    query = (
        select(func.count().filter(due), func.count().filter(due, visited))
        .select_from(Resident)
        .join(Building, Building.id == Resident.building_id)
        .outerjoin(before, before.c.resident_id == Resident.id)
        .where(scope.covers(Building.grid_id))
    )
    total, done = session.execute(query).one()
    return total, done


def _cutoff(due_before: Mapping[str, datetime]) -> ColumnElement[datetime]:
    """Per household category: a last visit before this moment means a visit fell due."""

    def moment(category: str) -> ColumnElement[datetime]:
        return literal(due_before[category], UTCDateTime())

    return case(
        (Resident.household_category == "hardship", moment("hardship")),
        (Resident.household_category == "key", moment("key")),
        else_=moment("ordinary"),
    )


def visits_recorded(session: Session, scope: Reach, start: datetime, end: datetime) -> int:
    """Every visit logged between start and end, early and repeat visits included."""
    query = (
        select(func.count())
        .select_from(Visit)
        .join(Resident, Resident.id == Visit.resident_id)
        .outerjoin(Building, Building.id == Resident.building_id)
        .where(
            Visit.visited_at >= start,
            Visit.visited_at < end,
            scope.covers(Building.grid_id),
        )
    )
    return session.scalar(query) or 0


def first_resident_at(session: Session) -> datetime | None:
    """When the first resident was registered; None with none."""
    return session.scalar(select(func.min(Resident.created_at)))


def grid_leaders(session: Session) -> dict[str, int]:
    """Grid code -> the leader's worker id, for the grids that have a leader."""
    led = select(Grid.code, Grid.leader_id).where(Grid.leader_id.is_not(None))
    return {code: leader_id for code, leader_id in session.execute(led)}


def pushes_since(session: Session, kind: str, since: datetime) -> Sequence[tuple[int | None, str]]:
    """(worker id, text) of every push of this kind made since then."""
    query = select(OutboxMessage.worker_id, OutboxMessage.text).where(
        OutboxMessage.kind == kind, OutboxMessage.created_at >= since
    )
    return [(worker_id, body) for worker_id, body in session.execute(query)]


def take_turns(session: Session, key: int) -> None:
    """PostgreSQL: wait for any other transaction holding this advisory key to commit (SQLite: nothing)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
