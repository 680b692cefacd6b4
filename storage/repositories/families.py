"""Queries about family followers of elders and the one-time family codes that bind them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage.models import CheckIn, FamilyCode, FamilyFollower, Resident, Ticket


def followers_of(session: Session, elder_id: int | None) -> list[Resident]:
    """The elder's family followers, oldest binding first."""
    query = (
        select(Resident)
        .join(FamilyFollower, FamilyFollower.follower_id == Resident.id)
        .where(FamilyFollower.elder_id == elder_id)
        .order_by(FamilyFollower.id)
    )
    return list(session.scalars(query))


def elders_followed_by(session: Session, follower_id: int) -> list[Resident]:
    """The elders this person follows, oldest binding first."""
    query = (
        select(Resident)
        .join(FamilyFollower, FamilyFollower.elder_id == Resident.id)
        .where(FamilyFollower.follower_id == follower_id)
        .order_by(FamilyFollower.id)
    )
    return list(session.scalars(query))


def follows_of(session: Session, elder_id: int | None) -> list[tuple[FamilyFollower, Resident]]:
    """(following, follower) for each of the elder's followers, oldest binding first."""
    query = (
        select(FamilyFollower, Resident)
        .join(Resident, FamilyFollower.follower_id == Resident.id)
        .where(FamilyFollower.elder_id == elder_id)
        .order_by(FamilyFollower.id)
    )
    return [(row, follower) for row, follower in session.execute(query)]


def followings_of(session: Session, follower_id: int) -> list[tuple[FamilyFollower, Resident]]:
    """(following, elder) for each elder this person follows, oldest binding first."""
    followings = (
        select(FamilyFollower, Resident)
        .join(Resident, FamilyFollower.elder_id == Resident.id)
        .where(FamilyFollower.follower_id == follower_id)
        .order_by(FamilyFollower.id)
    )
    return [(row, elder) for row, elder in session.execute(followings)]


def open_knock(session: Session, elder_id: int, open_statuses: Collection[str]) -> Ticket | None:
    """The newest open ticket of a missed check-in of this elder (a 敲门 task)."""
    query = (
        select(Ticket)
        .join(CheckIn, CheckIn.ticket_id == Ticket.id)
        .where(CheckIn.resident_id == elder_id, CheckIn.status == "missed", Ticket.status.in_(open_statuses))
        .order_by(Ticket.id.desc())
    )
    return session.scalars(query).first()


def follower_count(session: Session, elder_id: int | None) -> int:
    """How many family members follow the elder."""
    query = select(func.count()).select_from(FamilyFollower).where(FamilyFollower.elder_id == elder_id)
    return session.scalar(query) or 0


def unbind(session: Session, elder_id: int | None, follower_id: int | None) -> None:
    """The follower no longer follows the elder."""
    session.execute(
        delete(FamilyFollower).where(
            FamilyFollower.elder_id == elder_id, FamilyFollower.follower_id == follower_id
        )
    )


def code_known(session: Session, code_hash: str) -> bool:
    """Whether a family code with this hash was ever issued."""
    return session.scalar(select(FamilyCode.id).where(FamilyCode.code_hash == code_hash)) is not None


def code_by_hash(session: Session, code_hash: str) -> FamilyCode | None:
    """The family code with this hash."""
    return session.scalar(select(FamilyCode).where(FamilyCode.code_hash == code_hash))


def spend_code(session: Session, code_id: int, now: datetime) -> bool:
    """Mark the code used, if nobody has yet; False when someone else spent it first."""
    spent = session.execute(
        update(FamilyCode)
        .where(FamilyCode.id == code_id, FamilyCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return spent.rowcount == 1
