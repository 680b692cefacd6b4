"""Erasing a resident: what would go (preview), and forgetting them, leaving a tombstone.

The resident's row stays as a tombstone named 已删除的居民 so their tickets still count in reports and
keep their trail; everything that says who they are, where they live or what they wrote goes. Their
open tickets stay open for the worker holding them, without the details; nothing more is sent to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from handlers.context import Services
from handlers.jobs.checkins import OPEN_ROWS
from handlers.people.forgetting.finding import FORGOTTEN_EVENT, audit_subject, forgotten_openid
from handlers.people.forgetting.their_data import (
    open_ticket_ids,
    their_messages,
    their_pushes,
    ticket_ids_of,
    to_them,
)
from handlers.tickets.core import record_event
from handlers.tickets.lifecycle import tell_worker
from storage.erasure import erase_messages, erase_pushes, erase_tickets
from storage.models import AuditEvent, Resident
from storage.repositories import personal_data
from storage.windows import forget_window

FORGOTTEN_NAME = "已删除的居民"
HOLDER_NOTICE = (
    "【工单 #{number} · 居民信息已删除】居民要求删除个人信息,工单里的姓名、电话、住址和留言已删除,"
    "之后也不会再通知居民。工单仍由您处理:已办好的请办结,办不了的请退单。"
)


@dataclass
class Forgetting:
    """What forgetting one resident erased (counts only: the data itself is gone)."""

    resident_id: int
    tickets: int = 0
    open_tickets: list[int] = field(default_factory=list)
    messages: int = 0
    pushes: int = 0
    pushes_cancelled: int = 0
    family_contacts: int = 0
    media: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """'tickets 3 (1 open), messages 12, ...': for the audit trail and the operator."""
        still_open = f" ({len(self.open_tickets)} open)" if self.open_tickets else ""
        unsent = f" ({self.pushes_cancelled} unsent, cancelled)" if self.pushes_cancelled else ""
        return (
            f"tickets {self.tickets}{still_open}, messages {self.messages}, pushes {self.pushes}{unsent}, "
            f"family contacts {self.family_contacts}, media files {len(self.media)}"
        )


def preview(session: Session, resident: Resident) -> Forgetting:
    """What forgetting the resident would erase, changing nothing."""
    ids = ticket_ids_of(session, resident)
    pushes = their_pushes(resident, ids)
    messages = their_messages(resident, ids)
    media = personal_data.media_paths(session, messages)
    return Forgetting(
        resident_id=resident.id,
        tickets=len(ids),
        open_tickets=open_ticket_ids(session, ids),
        messages=personal_data.count_messages(session, messages),
        pushes=personal_data.count_pushes(session, pushes),
        pushes_cancelled=personal_data.count_pushes(session, pushes, pending_only=True),
        family_contacts=len(resident.family),
        media=media,
    )


def forget(services: Services, resident: Resident, actor: str) -> Forgetting:
    """Unbind and erase the resident in the caller's transaction; media files are the caller's to delete."""
    session, now = services.session, services.now
    session.flush()
    ids = ticket_ids_of(session, resident)
    result = Forgetting(resident.id, open_tickets=open_ticket_ids(session, ids))
    result.family_contacts = len(resident.family)
    tombstone = forgotten_openid(resident.openid)
    pushes = their_pushes(resident, ids)
    result.pushes_cancelled = personal_data.cancel_pending_pushes(session, pushes)
    result.pushes = erase_pushes(session, pushes)
    personal_data.readdress_pushes(session, to_them(resident), tombstone)
    result.tickets = erase_tickets(session, ids, now)
    result.messages, result.media = erase_messages(session, their_messages(resident, ids), now)
    personal_data.unlink_messages(session, resident.openid, tombstone)
    forget_window(session, resident.openid)
    _erase_household(session, resident)
    # The UPDATEs above went past the session's objects: read them afresh from here on.
    session.expire_all()
    _make_tombstone(resident, tombstone)
    _record(services, resident, ids, result, actor)
    return result


def _erase_household(session: Session, resident: Resident) -> None:
    """Check-in answers and visit notes say how the person is: they go, the dated rows stay for reports.

    A check-in still waiting for an answer or a knock goes whole: no reminder, call list or 敲门 task
    for nobody, and no "the worker has been" push to a family that is gone; an open 敲门 ticket stays.
    """
    waiting = (*OPEN_ROWS, "missed")
    # Family contacts, followings either way and family codes go too: nobody follows a forgotten elder,
    # and a forgotten relative follows nobody.
    personal_data.erase_household(session, resident.id, waiting)
    # What they said to the ping's subscription message is kept by openid: it goes with the person.
    personal_data.forget_consents(session, resident.openid)


def _make_tombstone(resident: Resident, tombstone: str) -> None:
    """Nothing left that names, places or reaches the person; no pings, visits or pushes any more."""
    resident.openid = tombstone
    resident.name = FORGOTTEN_NAME
    resident.phone = None
    resident.building = None
    resident.unit = resident.room = None
    resident.household_category = "ordinary"
    resident.lives_alone = False
    resident.subscribed = False
    resident.checkin_minute = None
    resident.last_message_at = resident.last_visit_at = None
    resident.pending_category = None
    resident.pending_until = None


def _record(services: Services, resident: Resident, ids: list[int], result: Forgetting, actor: str) -> None:
    """The audit event (who, when, how much; never what), a line in each ticket's trail, the holders told."""
    services.session.add(
        AuditEvent(
            action=FORGOTTEN_EVENT,
            actor=actor[:80],
            subject=audit_subject(resident.id),
            detail=result.summary(),
            created_at=services.now,
        )
    )
    for ticket in personal_data.tickets_by_ids(services.session, ids):
        record_event(services, ticket, FORGOTTEN_EVENT, actor[:80])
    for ticket in personal_data.tickets_by_ids(services.session, result.open_tickets):
        tell_worker(services, ticket.assignee, ticket, HOLDER_NOTICE.format(number=ticket.id), "status")
