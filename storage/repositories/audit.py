"""Queries about the audit trail of offices' actions (AuditEvent)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import AuditEvent


def has_event(session: Session, action: str, subject: str) -> bool:
    """Whether an audit line of this action about this subject exists."""
    query = select(AuditEvent.id).where(AuditEvent.action == action, AuditEvent.subject == subject)
    return session.scalar(query.limit(1)) is not None


def last_event_at(session: Session, action: str, subject: str) -> datetime | None:
    """When the newest audit line of this action about this subject was written."""
    query = select(func.max(AuditEvent.created_at)).where(
        AuditEvent.action == action, AuditEvent.subject == subject
    )
    return session.scalar(query)
