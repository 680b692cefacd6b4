"""Finding the resident behind an openid and remembering when they last wrote."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from handlers.context import Services
from storage.models import Building, Grid, Resident

# Most messages open a ticket for the grid's worker: fetch that path with the resident in one query.
WITH_GRID_WORKER = joinedload(Resident.building).joinedload(Building.grid).joinedload(Grid.worker)


def resident_for(services: Services, openid: str) -> Resident:
    """The resident with this openid, created on first contact; marks them as just heard from."""
    query = select(Resident).where(Resident.openid == openid).options(WITH_GRID_WORKER)
    resident = services.session.scalar(query)
    if resident is None:
        resident = Resident(openid=openid, created_at=services.now)
        services.session.add(resident)
    resident.last_message_at = services.now
    resident.subscribed = True
    return resident


def take_pending_category(services: Services, resident: Resident) -> str | None:
    """The category a recent menu tap announced, used once and only while fresh."""
    category, until = resident.pending_category, resident.pending_until
    resident.pending_category = resident.pending_until = None
    if category and until and until > services.now:
        return category
    return None
