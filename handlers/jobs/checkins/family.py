"""Family contacts are not residents: their check-in alerts and pushes are written here, in one place.

Family followers (handlers/people/followers.py) are residents of the account: their alert is a push to
their own Resident row, and the outcome and all-clear reach them as they reach every alerted contact.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from handlers.context import Services
from handlers.jobs.checkins.timing import NIGHT, clock, day_label
from handlers.people.followers import can_push, followers_of
from handlers.tickets.core import assignee_phrase
from storage.models import CheckIn, FamilyContact, OutboxMessage, Resident, Ticket
from storage.outbox import queue_push
from storage.repositories import pushes


def family_alert(
    services: Services, resident: Resident, checkin: CheckIn, ticket: Ticket, night: bool
) -> str:
    """The family's alert: who was not heard from, since when, and who is on the way."""
    who = assignee_phrase(ticket, with_phone=True) if ticket.assignee else "社区工作人员"
    when = f"{day_label(services, checkin.day)}{clock(services, checkin.pinged_at)}"
    return (
        f"{NIGHT if night else ''}【平安提醒】您的家人{resident.name or ''}{when}的平安问候至今没有回复。"
        f"社区已请{who}上门看看,有消息会马上告诉您。方便的话,也请您给老人打个电话。"
    )


def alert_followers(
    services: Services, resident: Resident, checkin: CheckIn, ticket: Ticket, night: bool
) -> None:
    """Each family follower gets the family's alert, once (a register contact with the same WeChat is one)."""
    contacts = {contact.openid for contact in resident.family if contact.openid}
    for follower in followers_of(services.session, resident):
        if follower.openid in contacts or not can_push(follower):
            continue
        text = family_alert(services, resident, checkin, ticket, night)
        queue_push(
            services.session,
            services.now,
            kind="family_alert",
            text=text,
            resident=follower,
            ticket=ticket,
            message_id=services.message_id,
        )


def family_address(contact: FamilyContact) -> str:
    """Their openid, or a placeholder a later channel (SMS) can resolve from the contact's id."""
    return contact.openid or f"family:{contact.id}"


def push_family(
    services: Services, recipient: str, name: str, ticket_id: int | None, kind: str, text: str
) -> None:
    """Queue one push to a family contact."""
    services.session.add(
        OutboxMessage(
            kind=kind,
            recipient=recipient,
            recipient_name=name[:50],
            ticket_id=ticket_id,
            message_id=services.message_id,
            text=text,
            next_attempt_at=services.now,
            created_at=services.now,
        )
    )


def alerted_family(session: Session, ticket_id: int) -> list[tuple[str, str]]:
    """(recipient, name) of each family contact alerted about this knock ticket."""
    return pushes.recipients_of(session, ticket_id, "family_alert")
