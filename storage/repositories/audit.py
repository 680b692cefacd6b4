"""Queries about the audit trail of offices' actions (AuditEvent)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEvent


def has_event(session: Session, action: str, subject: str) -> bool:
    """Whether an audit line of this action about this subject exists."""
    query = select(AuditEvent.id).where(AuditEvent.action == action, AuditEvent.subject == subject)
    return session.scalar(query.limit(1)) is not None
