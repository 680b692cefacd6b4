"""Check-in and visit figures, counted by the grid of the resident's building (docs/reports.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, exists, func, literal, select
from sqlalchemy.orm import Session

from config.settings import VisitSettings
from handlers.jobs.reports.periods import Period
from handlers.jobs.reports.scopes import Scope
from storage.models import Building, CheckIn, Resident, UTCDateTime, Visit


def checkin_counts(session: Session, scope: Scope, period: Period) -> tuple[int, int]:
    """(check-ins pinged for a day in the period, of which the elder answered that day, help included)."""
    pinged = CheckIn.pinged_at.is_not(None)
    query = (
        select(func.count().filter(pinged), func.count().filter(pinged, CheckIn.answered_at.is_not(None)))
        .select_from(CheckIn)
        .join(Resident, Resident.id == CheckIn.resident_id)
        .outerjoin(Building, Building.id == Resident.building_id)
        .where(CheckIn.day >= period.start, CheckIn.day < period.end, scope.covers(Building.grid_id))
    )
    total, answered = session.execute(query).one()
    return total, answered


def visit_counts(
    session: Session, visits: VisitSettings, scope: Scope, start: datetime, end: datetime
) -> tuple[int, int]:
    """(households whose visit was due before the period ended, of which visited within the period)."""
    before = (
        select(Visit.resident_id, func.max(Visit.visited_at).label("visited_at"))
        .where(Visit.visited_at < start)
        .group_by(Visit.resident_id)
        .subquery()
    )
    since = func.coalesce(before.c.visited_at, Resident.created_at)
    due = since < _cutoff(visits, end)
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


def _cutoff(visits: VisitSettings, end: datetime) -> ColumnElement[datetime]:
    """Per household category: a last visit before this moment means a visit fell due before `end`."""

    def moment(category: str) -> ColumnElement[datetime]:
        return literal(end - timedelta(days=visits.cadence_days(category)), UTCDateTime())

    return case(
        (Resident.household_category == "hardship", moment("hardship")),
        (Resident.household_category == "key", moment("key")),
        else_=moment("ordinary"),
    )


def visits_recorded(session: Session, scope: Scope, start: datetime, end: datetime) -> int:
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
