"""Queries about the daily check-in (CheckIn)."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from storage.models import CheckIn


def checkin_id_for(session: Session, resident_id: int, day: date) -> int | None:
    """The id of the resident's check-in row for `day`, if they have one."""
    return session.connection().scalar(_checkin_of_day(), {"resident_id": resident_id, "day": day})


@cache
def _checkin_of_day() -> Select[Any]:
    """Built once, read as one column on the session's connection: every resident message asks it."""
    table = CheckIn.__table__
    return select(table.c.id).where(
        table.c.resident_id == bindparam("resident_id"), table.c.day == bindparam("day")
    )
