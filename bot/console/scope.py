"""What each staff member sees: workers their grids (as worker or AB岗), leaders theirs, offices all."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import Session, aliased

from storage.models import Grid, Ticket, Worker

OFFICES = ("community", "street")


@dataclass(frozen=True)
class Scope:
    """One staff member's grids (None: every grid, and tickets with no grid)."""

    worker_id: int
    grid_ids: frozenset[int] | None

    @property
    def everything(self) -> bool:
        """Community and street offices see the whole community."""
        return self.grid_ids is None

    def sees_grid(self, grid_id: int | None) -> bool:
        """True for a grid in scope (an office also sees tickets of residents with no grid)."""
        return self.grid_ids is None or grid_id in self.grid_ids

    def tickets(self) -> ColumnElement[bool]:
        """Tickets of the grids in scope, and any ticket this person holds."""
        if self.grid_ids is None:
            return true()
        return or_(Ticket.grid_id.in_(self.grid_ids), Ticket.assignee_id == self.worker_id)

    def sees_ticket(self, ticket: Ticket) -> bool:
        """The same rule as tickets(), for one loaded ticket."""
        return self.sees_grid(ticket.grid_id) or ticket.assignee_id == self.worker_id


def scope_of(session: Session, worker: Worker) -> Scope:
    """The grids a worker, leader or office sees."""
    if worker.role in OFFICES:
        return Scope(worker.id, None)
    if worker.role == "leader":
        query = select(Grid.id).where(Grid.leader_id == worker.id)
    else:
        grid_worker = aliased(Worker)
        query = (
            select(Grid.id)
            .outerjoin(grid_worker, grid_worker.id == Grid.worker_id)
            .where(or_(Grid.worker_id == worker.id, grid_worker.backup_id == worker.id))
        )
    return Scope(worker.id, frozenset(session.scalars(query)))


def visible_grids(session: Session, scope: Scope) -> list[Grid]:
    """The grids in scope, by code."""
    query = select(Grid).order_by(Grid.code)
    if scope.grid_ids is not None:
        query = query.where(Grid.id.in_(scope.grid_ids))
    return list(session.scalars(query))
