"""Queries about the daily check-in (CheckIn): a resident's row of the day, and the sweeps' set-based
statements (today's rows, their moves between states, the pushes queued for the residents of a slice)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, bindparam, func, insert, literal, select, text, update
from sqlalchemy.orm import Session, selectinload

from storage.models import Building, CheckIn, OutboxMessage, Resident, UTCDateTime


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


def checkin_ids_where(session: Session, conditions: Sequence[ColumnElement[bool]]) -> list[int]:
    """The ids of the check-ins meeting every condition, in order."""
    return list(session.scalars(select(CheckIn.id).where(*conditions).order_by(CheckIn.id)))


def move_checkins(session: Session, conditions: Iterable[ColumnElement[bool]], **values: object) -> int:
    """UPDATE the check-ins that still meet the conditions; the row count says how many this run won."""
    statement = update(CheckIn.__table__).where(*conditions).values(**values)
    return session.execute(statement).rowcount


def move_checkins_returning(
    session: Session, conditions: Iterable[ColumnElement[bool]], **values: object
) -> list[int]:
    """UPDATE the check-ins that still meet the conditions; the ids of the rows this statement moved."""
    table = CheckIn.__table__
    moved = update(table).where(*conditions).values(**values).returning(table.c.id)
    return list(session.scalars(moved))


def highest_checkin_id(session: Session) -> int:
    """The highest check-in id so far (0 with none): the rows a later INSERT adds are above it."""
    return session.scalar(select(func.max(CheckIn.id))) or 0


def insert_checkins(
    session: Session,
    day: date,
    status: ColumnElement[str],
    pinged_at: ColumnElement[Any],
    due: ColumnElement[bool],
) -> int:
    """INSERT ... SELECT the day's rows (status, pinged_at) for the residents due; how many it inserted."""
    rows = select(Resident.id, literal(day, Date()), status, pinged_at).where(due)
    statement = insert(CheckIn.__table__).from_select(["resident_id", "day", "status", "pinged_at"], rows)
    on_postgresql = session.bind.dialect.name == "postgresql"
    if on_postgresql:
        # While check-ins looks empty (a new deployment), PostgreSQL plans the NOT EXISTS guard as
        # a scan of check-ins per resident, over the very pages this INSERT is adding: quadratic
        # (72 s at 100k elders). Probing the (resident, day) index instead is linear.
        session.execute(text("SET LOCAL enable_seqscan = off"))
    # SQLAlchemy keeps an INSERT's rowcount only when asked; psycopg's closed cursor may say -1.
    inserted = session.execute(statement, execution_options={"preserve_rowcount": True}).rowcount
    if on_postgresql:
        session.execute(text("SET LOCAL enable_seqscan = on"))
    return inserted


def counts_above(session: Session, before: int, statuses: Sequence[str]) -> tuple[int, ...]:
    """How many check-ins above the id `before` are in each of these statuses (a range of ids, so no
    index-wide GROUP BY)."""
    counts = [func.count().filter(CheckIn.status == status) for status in statuses]
    return tuple(session.execute(select(*counts).where(CheckIn.id > before)).one())


def unlisted_of_day(session: Session, day: date, statuses: Sequence[str]) -> list[tuple[CheckIn, Resident]]:
    """The day's check-ins in these statuses not yet listed (missed_at), each with its resident (building
    and grid loaded), by building, unit, room."""
    query = (
        select(CheckIn, Resident)
        .join(Resident, Resident.id == CheckIn.resident_id)
        .where(CheckIn.day == day, CheckIn.status.in_(statuses), CheckIn.missed_at.is_(None))
        .options(selectinload(Resident.building).selectinload(Building.grid))
        .order_by(Resident.building_id, Resident.unit, Resident.room, Resident.id)
    )
    return [(checkin, resident) for checkin, resident in session.execute(query)]


PUSH_COLUMNS = (
    "kind",
    "channel",
    "recipient",
    "recipient_name",
    "resident_id",
    "text",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


def queue_resident_pushes(
    session: Session,
    kind: str,
    text: str,
    now: datetime,
    channel: ColumnElement[str],
    conditions: Sequence[ColumnElement[bool]],
) -> None:
    """INSERT ... SELECT one pending push to the resident of each check-in meeting the conditions."""
    rows = _resident_pushes(kind, text, now, channel).where(*conditions)
    session.execute(insert(OutboxMessage.__table__).from_select(PUSH_COLUMNS, rows))


def _resident_pushes(kind: str, text: str, now: datetime, channel: ColumnElement[str]) -> Select[Any]:
    """SELECT outbox rows (PUSH_COLUMNS) addressed to the residents of the check-ins it is narrowed to."""
    at = literal(now, UTCDateTime())
    return select(
        literal(kind),
        channel,
        Resident.openid,
        func.coalesce(Resident.name, "居民"),
        Resident.id,
        literal(text),
        literal("pending"),
        literal(0),
        at,
        at,
    ).join_from(CheckIn, Resident, Resident.id == CheckIn.resident_id)
