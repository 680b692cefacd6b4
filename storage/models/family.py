"""Family members who follow an elder on the Official Account, and the one-time codes that bind them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class FamilyFollower(Base):
    """A family member's WeChat (a Resident row of their own) following an elder's check-ins."""

    __tablename__ = "family_followers"
    __table_args__ = (UniqueConstraint("elder_id", "follower_id", name="uq_family_followers_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    follower_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    code_id: Mapped[int | None] = mapped_column(ForeignKey("family_codes.id"))
    # How the code's issuer named them (女儿, 儿子 ...), shown to the elder and the worker.
    relation: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]


class FamilyCode(Base):
    """A one-time code a worker or the office gives a family member; only its hash is kept."""

    __tablename__ = "family_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of the code: the database alone cannot be used to bind to an elder.
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    issued_by: Mapped[str] = mapped_column(String(80))
    relation: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
