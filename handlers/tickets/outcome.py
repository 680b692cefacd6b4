"""What a ticket operation did: accepted or refused with a reason, the change, and who was told.

Each adapter (the WeChat commands, the staff console) renders an Outcome in its own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from storage.models import Ticket, Worker


class Refusal(StrEnum):
    """Why an operation changed nothing."""

    NOT_FOUND = "not_found"  # no ticket of that number
    NOT_YOURS = "not_yours"  # not the person's grid or ticket
    NOT_NOW = "not_now"  # the ticket's state does not allow the action
    NOTE_MISSING = "note_missing"  # progress, send-back and extension need words
    BAD_HOURS = "bad_hours"  # an extension's hours missing, not a number or out of range
    PAST_DUE = "past_due"  # too late to extend
    NOBODY_TO_TAKE_IT = "nobody_to_take_it"  # no leader or office to send a ticket back to
    NOT_PERMITTED = "not_permitted"  # the person's role may not do this
    UNKNOWN_ASSIGNEE = "unknown_assignee"  # no serving colleague of that name
    UNKNOWN_CATEGORY = "unknown_category"
    UNKNOWN_ORIGINAL = "unknown_original"  # a duplicate needs another open ticket to join
    UNCHANGED = "unchanged"  # already held by that person, already of that category


@dataclass(frozen=True)
class Told:
    """One push an operation queued: for the ticket's resident (worker None) or for a worker."""

    kind: str
    worker: Worker | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of one ticket operation, for an adapter to render."""

    action: str
    number: int
    ticket: Ticket | None
    refusal: Refusal | None = None
    status_before: str | None = None
    status_after: str | None = None
    told: tuple[Told, ...] = ()
    # The new holder (send-back, reassign) or, refused as unchanged, the person who already holds it.
    assignee: Worker | None = None
    category_before: str | None = None
    # The open ticket a duplicate was merged into.
    original: Ticket | None = None

    @property
    def accepted(self) -> bool:
        """True when the operation changed the ticket."""
        return self.refusal is None


def refused(
    action: str, number: int, ticket: Ticket | None, why: Refusal, *, assignee: Worker | None = None
) -> Outcome:
    """An outcome that changed nothing."""
    status = ticket.status if ticket is not None else None
    return Outcome(action, number, ticket, why, status, status, assignee=assignee)


def done(
    action: str,
    ticket: Ticket,
    before: str,
    told: list[Told | None],
    *,
    assignee: Worker | None = None,
    category_before: str | None = None,
    original: Ticket | None = None,
) -> Outcome:
    """An accepted outcome; pushes nobody was there to receive (no worker, an Open311 requester) left out."""
    sent = tuple(push for push in told if push is not None)
    return Outcome(
        action, ticket.id, ticket, None, before, ticket.status, sent, assignee, category_before, original
    )
