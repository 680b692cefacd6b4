"""What is the resident's, as SQL: their tickets, pushes to or about them, messages from or naming them."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_
from sqlalchemy.orm import Session

from handlers.jobs.checkins.family import family_address
from handlers.tickets.core import OPEN_STATUSES
from storage.models import InboundMessage, OutboxMessage, Resident
from storage.repositories import personal_data


def ticket_ids_of(session: Session, resident: Resident) -> list[int]:
    """The ids of the resident's tickets, in order."""
    return personal_data.ticket_ids_of(session, resident.id)


def open_ticket_ids(session: Session, ids: list[int]) -> list[int]:
    """Those of these tickets still open, in order."""
    return personal_data.ids_in_statuses(session, ids, OPEN_STATUSES)


def their_pushes(resident: Resident, ticket_ids: list[int]) -> ColumnElement[bool]:
    """Pushes to the resident or their family, about their tickets, or sent naming them (visit lists)."""
    return or_(
        OutboxMessage.resident_id == resident.id,
        OutboxMessage.ticket_id.in_(ticket_ids),
        to_them(resident),
        # Only sent ones: a push still to go out about someone else keeps its words.
        and_(OutboxMessage.status != "pending", _mentions(OutboxMessage.text, resident)),
    )


def to_them(resident: Resident) -> ColumnElement[bool]:
    """Pushes addressed to the resident, or to their family as family (a relative's own pushes stay)."""
    as_family = and_(
        OutboxMessage.recipient.in_([family_address(contact) for contact in resident.family]),
        OutboxMessage.resident_id.is_(None),
        OutboxMessage.worker_id.is_(None),
    )
    return or_(OutboxMessage.recipient == resident.openid, as_family)


def their_messages(resident: Resident, ticket_ids: list[int]) -> ColumnElement[bool]:
    """Messages the resident sent, filed under their tickets, or naming them ("走访 3号楼2单元301", or a
    worker's "签收 1" whose reply showed the resident's name and phone)."""
    return or_(
        InboundMessage.openid == resident.openid,
        InboundMessage.ticket_id.in_(ticket_ids),
        _mentions(InboundMessage.content, resident),
        _mentions(InboundMessage.reply, resident),
    )


def _mentions(column: ColumnElement[str | None], resident: Resident) -> ColumnElement[bool]:
    """SQL: the text carries the resident's or a family member's name or phone, or their address."""
    words = [resident.name, resident.phone, resident.address]
    words += [word for contact in resident.family for word in (contact.name, contact.phone)]
    # A one-character name would match half the community's messages.
    found = [column.contains(word, autoescape=True) for word in words if word and len(word) >= 2]
    return or_(false(), *found)
