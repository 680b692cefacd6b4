"""What each WeChat user said to the Official Account's subscription messages (订阅通知), per template."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class SubscriptionConsent(Base):
    """A user's latest word on one subscription template: accept or reject (from WeChat's events)."""

    __tablename__ = "subscription_consents"
    __table_args__ = (UniqueConstraint("openid", "template_id", name="uq_subscription_consents_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Keyed by the WeChat user, not a Resident row: consent is theirs, whatever register entry they bind.
    openid: Mapped[str] = mapped_column(String(64))
    template_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))  # accept | reject
    changed_at: Mapped[datetime]
