"""Check-in and visit figures, counted by the grid of the resident's building (docs/reports.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from config.settings import VisitSettings
from handlers.jobs.reports.periods import Period
from handlers.jobs.reports.scopes import Scope
from storage.repositories import reports

# Household categories with a visit cadence of their own; everyone else is ordinary.
CATEGORIES = ("hardship", "key", "ordinary")


def checkin_counts(session: Session, scope: Scope, period: Period) -> tuple[int, int]:
    """(check-ins pinged for a day in the period, of which the elder answered that day, help included)."""
    return reports.checkin_counts(session, scope, period.start, period.end)


def visit_counts(
    session: Session, visits: VisitSettings, scope: Scope, start: datetime, end: datetime
) -> tuple[int, int]:
    """(households whose visit was due before the period ended, of which visited within the period)."""
    return reports.visit_counts(session, scope, start, end, _cutoff(visits, end))


def _cutoff(visits: VisitSettings, end: datetime) -> dict[str, datetime]:
    """Per household category: a last visit before this moment means a visit fell due before `end`."""
    return {category: end - timedelta(days=visits.cadence_days(category)) for category in CATEGORIES}


def visits_recorded(session: Session, scope: Scope, start: datetime, end: datetime) -> int:
    """Every visit logged between start and end, early and repeat visits included."""
    return reports.visits_recorded(session, scope, start, end)
