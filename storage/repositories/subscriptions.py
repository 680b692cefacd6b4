"""Queries about subscription-message consents (SubscriptionConsent): a user's choice per template."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import SubscriptionConsent


def record_consent(session: Session, openid: str, template_id: str, status: str, now: datetime) -> None:
    """Insert or update the user's consent row for the template."""
    query = select(SubscriptionConsent).where(
        SubscriptionConsent.openid == openid, SubscriptionConsent.template_id == template_id
    )
    row = session.scalar(query.with_for_update())
    if row is None:
        try:
            with session.begin_nested():
                session.add(
                    SubscriptionConsent(openid=openid, template_id=template_id, status=status, changed_at=now)
                )
            return
        except IntegrityError:  # the same user's other event got there first
            row = session.scalars(query.with_for_update()).one()
    row.status, row.changed_at = status, now
