"""Finding the resident behind an openid and remembering when they last wrote."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handlers.context import Services
from storage.models import Resident
from storage.repositories import residents


def resident_for(services: Services, openid: str) -> Resident:
    """The resident with this openid, created on first contact; marks them as just heard from."""
    resident = _locked(services.session, openid) or _first_contact(services, openid)
    residents.mark_heard_from(services.session, resident, services.now)
    return resident


def _locked(session: Session, openid: str) -> Resident | None:
    """The resident, their row locked until the transaction ends.

    One resident's messages are then handled one after another, never side by side: two messages about
    one leak arriving together make one ticket, not two. (SQLite has one writer at a time anyway and
    leaves the lock out.) FOR NO KEY UPDATE, not FOR UPDATE: rows that merely point at the resident
    (the morning ping sweep's pushes, a worker's note to them) take KEY SHARE, which it lets through, so
    a message never waits for the whole sweep to commit.
    """
    return residents.locked_by_openid(session, openid)


def _first_contact(services: Services, openid: str) -> Resident:
    """A new resident; when another of their first messages created them a moment ago, that one."""
    try:
        with services.session.begin_nested():
            resident = Resident(openid=openid, created_at=services.now)
            services.session.add(resident)
        return resident
    except IntegrityError:
        existing = _locked(services.session, openid)
        if existing is None:
            raise
        return existing


def pending_category(services: Services, resident: Resident) -> str | None:
    """The category a recent menu tap announced, while fresh, left for the router to use."""
    category, until = resident.pending_category, resident.pending_until
    return category if category and until and until > services.now else None


def take_pending_category(services: Services, resident: Resident) -> str | None:
    """The category a recent menu tap announced, used once and only while fresh."""
    category = pending_category(services, resident)
    # Only when there is one: setting None over None leaves the resident dirty, and every request's
    # new ticket would pay for a flush that writes nothing.
    if resident.pending_category is not None or resident.pending_until is not None:
        resident.pending_category = resident.pending_until = None
    return category
