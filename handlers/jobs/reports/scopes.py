"""What a report covers: one grid, or the whole community (every grid, and whatever is in no grid)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_
from sqlalchemy.orm import Session

from handlers.domain_settings import DomainSettings
from storage.models import Grid, Worker
from storage.repositories import staff

OFFICES = ("community", "street")
COMMUNITY_KEY = "community"


@dataclass(frozen=True)
class Scope:
    """A report's reach: its name, its grids, and how links name it ("grid:<code>" or "community")."""

    label: str
    grid_ids: tuple[int, ...]
    key: str
    # The community also counts tickets and residents not in any grid (unbound residents).
    include_no_grid: bool = False

    @property
    def grid_code(self) -> str | None:
        """The grid's code for a grid scope; None for the community."""
        return self.key.removeprefix("grid:") if self.key.startswith("grid:") else None

    def covers(self, grid_id: ColumnElement[int | None]) -> ColumnElement[bool]:
        """A condition on a grid id column: the row belongs to this scope."""
        inside = grid_id.in_(self.grid_ids) if self.grid_ids else false()
        return or_(inside, grid_id.is_(None)) if self.include_no_grid else inside


def scope_for_grid(session: Session, grid_code: str) -> Scope:
    """One grid by its code; LookupError when there is no such grid."""
    grid = staff.grid_by_code(session, grid_code)
    if grid is None:
        raise LookupError(f"no grid with code {grid_code!r}")
    return _grid_scope(grid)


def scope_for_community(session: Session, settings: DomainSettings) -> Scope:
    """Every grid of the community, plus tickets and residents in no grid."""
    ids = staff.all_grid_ids(session)
    return Scope(settings.community_name, ids, COMMUNITY_KEY, include_no_grid=True)


def scopes_for_worker(
    session: Session, worker: Worker, settings: DomainSettings | None = None
) -> list[Scope]:
    """What a person may read: offices the community and every grid; workers and leaders their grids."""
    if worker.role not in OFFICES:
        return [_grid_scope(grid) for grid in staff.grids_of(session, worker.id)]
    community = scope_for_community(session, settings) if settings else _unnamed_community(session)
    return [community, *(_grid_scope(grid) for grid in staff.all_grids(session))]


def grid_scopes(session: Session) -> list[Scope]:
    """Every grid's scope, by code."""
    return [_grid_scope(grid) for grid in staff.all_grids(session)]


def _grid_scope(grid: Grid) -> Scope:
    return Scope(grid.name, (grid.id,), f"grid:{grid.code}")


def _unnamed_community(session: Session) -> Scope:
    ids = staff.all_grid_ids(session)
    return Scope("本社区", ids, COMMUNITY_KEY, include_no_grid=True)
