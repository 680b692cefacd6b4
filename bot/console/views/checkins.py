"""The check-in board: today's pings per grid, who answered, who is missing, 敲门 tasks, visits due."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask import Blueprint
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.console.pages import console, page, staff
from bot.console.scope import Scope, visible_grids
from bot.console.views import family_qr
from handlers.jobs.checkins import local_moment
from handlers.jobs.visits import HOUSEHOLD_LABELS, households_due
from handlers.tickets.core import OPEN_STATUSES
from storage.db import transaction
from storage.models import Building, CheckIn, Grid, Resident, Ticket

WAITING = ("pinged", "reminded")
STATUS_WORDS = {
    "answered": "已报平安",
    "visited": "已上门确认",
    "pinged": "已问候,未回复",
    "reminded": "已提醒,未回复",
    "missed": "未回复,已派敲门",
    "help": "求助",
    "unreachable": "无法推送,需电话问候",
    "skipped": "未按时问候,需电话问候",
}


def register(blueprint: Blueprint) -> None:
    """Add the check-in board route, and its family QR button's."""
    blueprint.add_url_rule("/checkins", "checkins", checkin_board)
    family_qr.register(blueprint)


@dataclass
class GridDay:
    """One grid's check-ins today."""

    grid: Grid | None
    answered: list[tuple[CheckIn, Resident]] = field(default_factory=list)
    visited: list[tuple[CheckIn, Resident]] = field(default_factory=list)
    missing: list[tuple[CheckIn, Resident]] = field(default_factory=list)
    not_yet: int = 0

    @property
    def pinged(self) -> int:
        """Residents who have a check-in today (pinged, or listed for a phone call)."""
        return len(self.answered) + len(self.visited) + len(self.missing)

    @property
    def asked_for_help(self) -> list[tuple[CheckIn, Resident]]:
        """Those who answered by asking for help: answered, and still someone to look after."""
        return [(checkin, resident) for checkin, resident in self.answered if checkin.status == "help"]

    def add(self, checkin: CheckIn, resident: Resident) -> None:
        """File a check-in: answered as the day's report counts it (the elder wrote, help included)."""
        if checkin.answered_at is not None:
            self.answered.append((checkin, resident))
        elif checkin.status == "visited":
            self.visited.append((checkin, resident))
        else:
            self.missing.append((checkin, resident))


def checkin_board() -> str:
    """Today in the person's grids (the community's local day)."""
    me, app = staff(), console()
    now = app.clock()
    today = local_moment(now, app.settings.timezone).day
    with transaction(app.factory) as session:
        grids = visible_grids(session, me.scope)
        days = _grid_days(session, me.scope, grids, today)
        knocks = _open_knocks(session, me.scope)
        visits = [
            (resident, due_at)
            for resident, due_at in households_due(session, app.settings.visits, now)
            if me.scope.sees_grid(resident.building.grid_id)
        ]
        return page(
            "checkins.html",
            today=today,
            days=days,
            knocks=knocks,
            overdue_visits=[(r, d) for r, d in visits if d <= now],
            due_visits=[(r, d) for r, d in visits if d > now],
            words=STATUS_WORDS,
            households=HOUSEHOLD_LABELS,
            now=now,
        )


def _grid_days(session: Session, scope: Scope, grids: list[Grid], today: date) -> list[GridDay]:
    """Check-ins of the day grouped by grid; residents due a ping but not pinged yet are counted."""
    days: dict[int | None, GridDay] = {grid.id: GridDay(grid) for grid in grids}
    query = (
        select(CheckIn, Resident)
        .join(Resident, Resident.id == CheckIn.resident_id)
        .outerjoin(Building, Building.id == Resident.building_id)
        .where(CheckIn.day == today)
        .options(selectinload(Resident.building))
        .order_by(Resident.building_id, Resident.unit, Resident.room, Resident.id)
    )
    for checkin, resident in session.execute(query):
        grid_id = resident.building.grid_id if resident.building else None
        if not scope.sees_grid(grid_id):
            continue
        days.setdefault(grid_id, GridDay(None)).add(checkin, resident)
    checked = select(CheckIn.resident_id).where(CheckIn.day == today)
    population = (
        select(Building.grid_id, Resident.id)
        .join(Building, Building.id == Resident.building_id)
        .where(Resident.checkin_minute.is_not(None), Resident.id.not_in(checked))
    )
    for grid_id, _ in session.execute(population):
        if grid_id in days:
            days[grid_id].not_yet += 1
    return list(days.values())


def _open_knocks(session: Session, scope: Scope) -> list[Ticket]:
    """Open 敲门 tasks in scope, oldest first."""
    query = (
        select(Ticket)
        .where(scope.tickets(), Ticket.category == "knock", Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.created_at)
        .options(selectinload(Ticket.resident).selectinload(Resident.building), selectinload(Ticket.assignee))
    )
    return list(session.scalars(query))
