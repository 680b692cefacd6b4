"""Queries on the deployment's register of communities (CommunityRecord)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import CommunityRecord


def registered(session: Session) -> list[CommunityRecord]:
    """Every community of the deployment, the first one first."""
    return list(session.scalars(select(CommunityRecord).order_by(CommunityRecord.id)))


def register_first(session: Session, slug: str, now: datetime) -> bool:
    """Register the deployment's own database as its first community, unless one is; True if it was added."""
    if session.scalar(select(CommunityRecord.id).where(CommunityRecord.database_url.is_(None))):
        return False
    session.add(CommunityRecord(slug=slug, created_at=now))
    return True


def with_slug(session: Session, slug: str) -> CommunityRecord | None:
    """The community with this slug, if registered."""
    return session.scalar(select(CommunityRecord).where(CommunityRecord.slug == slug))


def register(
    session: Session, slug: str, name: str, database_url: str, config_file: str | None, now: datetime
) -> CommunityRecord:
    """Add a community with a database of its own."""
    record = CommunityRecord(
        slug=slug, name=name, database_url=database_url, config_file=config_file, created_at=now
    )
    session.add(record)
    session.flush()
    return record
