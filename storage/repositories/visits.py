"""Queries about home visits (三访): which households are coming due."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Resident


def last_visited_by(session: Session, category: str, cutoff: datetime) -> list[Resident]:
    """Households of the category with an address whose last visit (else registration) is at or before
    the cutoff."""
    last = func.coalesce(Resident.last_visit_at, Resident.created_at)
    query = select(Resident).where(
        Resident.household_category == category, Resident.building_id.is_not(None), last <= cutoff
    )
    return list(session.scalars(query))
