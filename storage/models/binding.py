"""Binding a WeChat user to a role or a register entry: worker invite codes and claims on entries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class WorkerInvite(Base):
    """A one-time code that makes whoever sends "绑定 <code>" a worker, created by `run.py worker invite`."""

    __tablename__ = "worker_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of the code (storage/codes.py): a copied row or backup cannot be sent as "绑定 <code>".
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    role: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str | None] = mapped_column(String(30))
    # Comma-separated grid codes: one for a worker, several for a leader, none for community/street.
    grid_codes: Mapped[str] = mapped_column(String(200), default="")
    backup_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))


class BindingClaim(Base):
    """Proof before a WeChat user takes over a register entry (an elder not yet on WeChat).

    A claim: someone bound the entry's address; they stay bound to the building and room only until a
    worker confirms (确认绑定 <id>) or they send a code. A code: what a worker's "绑定码 <address>" made,
    with no claimant until someone sends it.
    """

    __tablename__ = "binding_claims"
    __table_args__ = (Index("ix_binding_claims_entry_status", "entry_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    claimant_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    # Six digits, kept as they are: hashing cannot hide a million possibilities.
    code: Mapped[str | None] = mapped_column(String(12))
    # pending, proven, refused, locked (too many wrong codes), void (superseded, spent or expired)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    wrong_codes: Mapped[int] = mapped_column(Integer, default=0)
    # Who was asked to confirm the claim, or who issued the code.
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("workers.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    settled_by: Mapped[str | None] = mapped_column(String(80))
