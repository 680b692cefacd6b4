"""The community: workers, grids, buildings, residents and their family contacts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base


class Worker(Base):
    """A grid worker, grid leader, or community / street office account."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(30))
    role: Mapped[str] = mapped_column(String(20), default="worker")
    backup_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    on_duty: Mapped[bool] = mapped_column(default=True)
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    wecom_userid: Mapped[str | None] = mapped_column(String(64))
    # Set by `run.py worker leave`: the row stays for the tickets' history, but nothing reaches it any more.
    left_at: Mapped[datetime | None]

    # post_update: two workers may back each other up (AB岗), a cycle in the rows.
    backup: Mapped[Worker | None] = relationship(remote_side=[id], post_update=True)


class Grid(Base):
    """A patch of the community looked after by one worker."""

    __tablename__ = "grids"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))

    worker: Mapped[Worker | None] = relationship(foreign_keys=[worker_id])
    leader: Mapped[Worker | None] = relationship(foreign_keys=[leader_id])
    buildings: Mapped[list[Building]] = relationship(back_populates="grid")


class Building(Base):
    """A residential building; it belongs to exactly one grid."""

    __tablename__ = "buildings"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grids.id"))

    grid: Mapped[Grid] = relationship(back_populates="buildings")


class Resident(Base):
    """A person who messages the Official Account, known by their openid."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(30))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    unit: Mapped[str | None] = mapped_column(String(10))
    room: Mapped[str | None] = mapped_column(String(10))
    household_category: Mapped[str] = mapped_column(String(20), default="ordinary")
    lives_alone: Mapped[bool] = mapped_column(default=False)
    subscribed: Mapped[bool] = mapped_column(default=True)
    last_message_at: Mapped[datetime | None]
    # Minutes after local midnight of the daily check-in ping; None: not in the check-in population.
    checkin_minute: Mapped[int | None] = mapped_column(index=True)
    last_visit_at: Mapped[datetime | None]
    # A menu tap (报修, 缴费 ...) says what the next message is about.
    pending_category: Mapped[str | None] = mapped_column(String(20))
    pending_until: Mapped[datetime | None]
    created_at: Mapped[datetime]

    building: Mapped[Building | None] = relationship()
    family: Mapped[list[FamilyContact]] = relationship(
        back_populates="resident", cascade="all, delete-orphan", order_by="FamilyContact.id"
    )

    @property
    def address(self) -> str | None:
        """Building, unit and room as residents write them, or None when unbound."""
        if self.building is None:
            return None
        unit = f"{self.unit}单元" if self.unit else ""
        return f"{self.building.name}{unit}{self.room or ''}"


class FamilyContact(Base):
    """A relative told when an elder misses a check-in."""

    __tablename__ = "family_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    name: Mapped[str] = mapped_column(String(50))
    relation: Mapped[str | None] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(30))
    openid: Mapped[str | None] = mapped_column(String(64))

    resident: Mapped[Resident] = relationship(back_populates="family")
