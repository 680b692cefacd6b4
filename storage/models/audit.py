"""The personal-data audit trail: who did what to personal data and when, never the data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class AuditEvent(Base):
    """Who did what to personal data and when (a resident forgotten, a retention sweep), never the data."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    # What it was done to, by id, e.g. "resident #12"; never a name, phone or openid.
    subject: Mapped[str] = mapped_column(String(120))
    # Counts of what went, e.g. "tickets 3, messages 12"; never the data itself.
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(index=True)
