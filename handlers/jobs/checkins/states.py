"""A check-in row's states: the sweeps' tally, the open states, and the conditional UPDATE between them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session

from handlers.tickets.tally import Tally
from storage.models import CheckIn

# Check-ins a message from the resident turns into "answered".
OPEN_ROWS = ("pinged", "reminded", "unreachable", "skipped")


@dataclass
class CheckInResult(Tally):
    """What one run of a check-in sweep did."""

    pinged: int = 0
    unreachable: int = 0
    skipped: int = 0
    reminded: int = 0
    silent_reminders: int = 0
    knocked: int = 0
    visited: int = 0
    call_lists: int = 0
    failed: int = 0


def move_checkins(session: Session, conditions: Iterable[ColumnElement[bool]], **values: object) -> int:
    """UPDATE the check-ins that still meet the conditions; the row count says how many this run won."""
    statement = update(CheckIn.__table__).where(*conditions).values(**values)
    return session.execute(statement).rowcount
