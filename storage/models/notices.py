"""Notices to buildings (停水, 停电, 电梯检修): what staff wrote, where, and how each resident heard of it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base
from storage.models.community import Building, Worker

notice_buildings = Table(
    "notice_buildings",
    Base.metadata,
    Column("notice_id", ForeignKey("notices.id"), primary_key=True),
    Column("building_id", ForeignKey("buildings.id"), primary_key=True),
)


class Notice(Base):
    """A notice staff wrote for some buildings: kind, text, when it applies, who wrote it."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    # water, power, elevator (the repair kinds of config/intents.toml) or other.
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    # Set when staff end it early.
    ended_at: Mapped[datetime | None]
    author_id: Mapped[int] = mapped_column(ForeignKey("workers.id"))
    created_at: Mapped[datetime]
    # Set by the delivery job once every resident has a delivery row (one job, never on the request).
    planned_at: Mapped[datetime | None]
    # Residents' reports of the outage answered with this notice instead of a new ticket.
    answered: Mapped[int] = mapped_column(default=0)

    author: Mapped[Worker] = relationship()
    buildings: Mapped[list[Building]] = relationship(secondary=notice_buildings, order_by=Building.name)

    def until(self) -> datetime:
        """When it stops applying: its end, or the moment staff ended it."""
        return min(self.ended_at, self.ends_at) if self.ended_at is not None else self.ends_at


class NoticeDelivery(Base):
    """How one resident hears of one notice: a customer-service message, a template, or the worker's list."""

    __tablename__ = "notice_deliveries"
    # Never two copies to one resident, however often the job runs or how many processes run it.
    __table_args__ = (UniqueConstraint("notice_id", "resident_id", name="uq_notice_deliveries_resident"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    # custom (inside the 48-hour window), template, or post (listed for the worker to post or tell).
    channel: Mapped[str] = mapped_column(String(10))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
