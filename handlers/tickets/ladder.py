"""The escalation ladder (小事不出网格、大事不出社区): worker, backup, grid leader, community, street."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from storage.models import Ticket, Worker
from storage.repositories import staff

WORKER, BACKUP, LEADER, COMMUNITY, STREET = range(5)
RUNG_NAMES = ("网格员", "AB岗", "网格长", "社区", "街道")
# Where a freshly opened ticket starts, by why its assignee was chosen (handlers.tickets.core.Assignment).
START_LEVELS = {
    "grid_worker": WORKER,
    "backup": BACKUP,
    "leader": LEADER,
    "community": COMMUNITY,
    "street": STREET,
    "unassigned": COMMUNITY,
}


@dataclass(frozen=True)
class Rung:
    """One step of the ladder and the on-duty people standing on it."""

    level: int
    workers: tuple[Worker, ...]

    @property
    def name(self) -> str:
        """The rung as staff call it."""
        return RUNG_NAMES[self.level]


def ladder(session: Session, ticket: Ticket) -> list[Rung]:
    """The rungs above and including the grid worker that have someone on duty, lowest first."""
    grid = ticket.grid
    worker = grid.worker if grid else None
    people: dict[int, Sequence[Worker | None]] = {
        WORKER: [worker],
        BACKUP: [worker.backup if worker else None],
        LEADER: [grid.leader if grid else None],
        COMMUNITY: staff.serving_by_role(session, "community"),
        STREET: staff.serving_by_role(session, "street"),
    }
    rungs = []
    for level, candidates in people.items():
        on_duty = tuple(w for w in candidates if w is not None and w.on_duty)
        if on_duty:
            rungs.append(Rung(level, on_duty))
    return rungs


def next_rung(rungs: list[Rung], level: int) -> Rung | None:
    """The first staffed rung above a level, or None at the top."""
    return next((rung for rung in rungs if rung.level > level), None)


def level_of(rungs: list[Rung], worker: Worker) -> int:
    """Where a person stands on a ticket's ladder; the grid worker's level when not on it (a 转派 in)."""
    return next((rung.level for rung in rungs if worker in rung.workers), WORKER)


def holder_and_above(rungs: list[Rung], holder: Worker | None, top: int) -> list[Worker]:
    """The ticket's holder (on duty or not: it is theirs), then everyone on the rungs above them up to
    and including `top`; with nobody holding it, every rung up to `top`."""
    floor = level_of(rungs, holder) if holder is not None else WORKER - 1
    above = [worker for rung in rungs if floor < rung.level <= top for worker in rung.workers]
    people = [holder] if holder is not None else []
    return people + [worker for worker in above if worker not in people]


def rungs_up_to(rungs: list[Rung], top: int) -> list[Rung]:
    """Every staffed rung from the bottom up to and including `top`."""
    return [rung for rung in rungs if rung.level <= top]
