"""Looking after residents: daily check-ins of elders living alone and home visits (三访)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class CheckIn(Base):
    """One resident's daily check-in: pinged, reminded, answered, or missed (a 敲门 task)."""

    __tablename__ = "checkins"
    __table_args__ = (
        UniqueConstraint("resident_id", "day", name="uq_checkins_resident_day"),
        Index("ix_checkins_status_pinged", "status", "pinged_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    # The local calendar day the check-in is for.
    day: Mapped[date] = mapped_column(Date)
    # pinged, reminded, missed (knock task open), answered, help, unreachable
    status: Mapped[str] = mapped_column(String(20))
    pinged_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    missed_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(String(200))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))


class Visit(Base):
    """A worker's home visit (走访), which resets the household's visit clock (三访)."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"))
    visited_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
