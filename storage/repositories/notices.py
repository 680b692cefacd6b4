"""Queries about notices to buildings (Notice) and who was told of them (NoticeDelivery)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session, selectinload

from storage.models import Building, Notice, NoticeDelivery, OutboxMessage, Resident, notice_buildings


def buildings_with_ids(session: Session, building_ids: Collection[int]) -> list[Building]:
    """The buildings with these ids, in no particular order."""
    return list(session.scalars(select(Building).where(Building.id.in_(building_ids))))


def end(session: Session, notice_id: int, now: datetime) -> bool:
    """Mark a notice ended now; False when it had already ended (by hand or by its end time)."""
    result = session.execute(
        update(Notice)
        .where(Notice.id == notice_id, Notice.ended_at.is_(None), Notice.ends_at > now)
        .values(ended_at=now)
    )
    return bool(result.rowcount)


def in_force_about(session: Session, now: datetime, building_id: int, kind: str) -> Notice | None:
    """The notice of this kind in force now for the building, the latest end first."""
    query = _active(now, [building_id]).where(Notice.kind == kind)
    return session.scalars(query.order_by(Notice.ends_at.desc()).limit(1)).first()


def _active(now: datetime, building_ids: Collection[int] | None = None) -> Select[tuple[Notice]]:
    """Notices in force now (started, not over, not ended), for these buildings (None: every building)."""
    query = select(Notice).where(
        Notice.starts_at <= now,
        Notice.ends_at > now,
        or_(Notice.ended_at.is_(None), Notice.ended_at > now),
    )
    if building_ids is not None:
        query = query.where(Notice.id.in_(_covering(building_ids)))
    return query


def current(session: Session, now: datetime, building_ids: Collection[int] | None = None) -> list[Notice]:
    """Notices in force or still to come for these buildings, soonest end first, buildings loaded."""
    query = select(Notice).where(Notice.ends_at > now, Notice.ended_at.is_(None))
    if building_ids is not None:
        query = query.where(Notice.id.in_(_covering(building_ids)))
    return list(session.scalars(query.order_by(Notice.ends_at).options(selectinload(Notice.buildings))))


def _covering(building_ids: Collection[int]) -> Select[tuple[int]]:
    """The ids of the notices for any of these buildings."""
    return select(notice_buildings.c.notice_id).where(notice_buildings.c.building_id.in_(building_ids))


def count_answer(session: Session, notice_id: int) -> None:
    """One more report answered by the notice, counted in the database (not read, then written)."""
    session.execute(update(Notice).where(Notice.id == notice_id).values(answered=Notice.answered + 1))


def unplanned_ids(session: Session) -> list[int]:
    """The ids of the notices no delivery run has planned yet, in order."""
    query = select(Notice.id).where(Notice.planned_at.is_(None)).order_by(Notice.id)
    return list(session.scalars(query))


def claim_for_planning(session: Session, notice_id: int, now: datetime) -> bool:
    """Stamp the notice planned now; False when another run already had."""
    claimed = session.execute(
        update(Notice).where(Notice.id == notice_id, Notice.planned_at.is_(None)).values(planned_at=now)
    )
    return bool(claimed.rowcount)


def residents_of(session: Session, building_ids: Collection[int]) -> list[Resident]:
    """The residents bound to these buildings, each once, by id."""
    query = select(Resident).where(Resident.building_id.in_(building_ids)).order_by(Resident.id)
    return list(session.scalars(query))


def delivery_channels(session: Session, notice_id: int) -> Sequence[tuple[str, str | None]]:
    """(channel, outbox status or None) for each of the notice's deliveries."""
    return session.execute(
        select(NoticeDelivery.channel, OutboxMessage.status)
        .outerjoin(OutboxMessage, OutboxMessage.id == NoticeDelivery.outbox_id)
        .where(NoticeDelivery.notice_id == notice_id)
    ).all()


def told_by_hand(session: Session, notice_id: int, channel: str, failed: Collection[str]) -> list[Resident]:
    """Residents of the notice whose delivery is on this channel, or whose push ended in a failed status."""
    failed_ids = select(OutboxMessage.id).where(OutboxMessage.status.in_(failed))
    query = (
        select(Resident)
        .join(NoticeDelivery, NoticeDelivery.resident_id == Resident.id)
        .where(
            NoticeDelivery.notice_id == notice_id,
            (NoticeDelivery.channel == channel) | NoticeDelivery.outbox_id.in_(failed_ids),
        )
    )
    return list(session.scalars(query))
