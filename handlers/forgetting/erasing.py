"""Forgetting a resident on request (PIPL's right to deletion): unbound, their personal data erased.

The resident's row stays as a tombstone named 已删除的居民 so their tickets still count in reports and
keep their trail; everything that says who they are, where they live or what they wrote goes. Their
open tickets stay open for the worker holding them, without the details; nothing more is sent to them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, String, and_, cast, delete, false, func, or_, select, update
from sqlalchemy.orm import Session

from handlers.binding import parse_address
from handlers.checkins import OPEN_ROWS
from handlers.checkins.family import family_address
from handlers.context import Services
from handlers.language.normalize import normalize
from handlers.lifecycle import tell_worker
from handlers.tickets import OPEN_STATUSES, record_event
from storage.erasure import FORGOTTEN_PREFIX, erase_messages, erase_pushes, erase_tickets, is_forgotten_openid
from storage.models import (
    AuditEvent,
    Building,
    CheckIn,
    FamilyContact,
    InboundMessage,
    OutboxMessage,
    Resident,
    Ticket,
    Visit,
    Worker,
)

FORGOTTEN_NAME = "已删除的居民"
FORGOTTEN_EVENT = "resident_forgotten"
HOLDER_NOTICE = (
    "【工单 #{number} · 居民信息已删除】居民要求删除个人信息,工单里的姓名、电话、住址和留言已删除,"
    "之后也不会再通知居民。工单仍由您处理:已办好的请办结,办不了的请退单。"
)


class ForgetError(LookupError):
    """Nobody to forget, or not unambiguously; the message says why."""


@dataclass(frozen=True)
class AlreadyForgotten:
    """The openid was forgotten before: nothing is left to erase."""

    resident_id: int
    when: datetime | None


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


def forgotten_openid(openid: str) -> str:
    """The tombstone's openid: a digest, so a second request for the same openid is recognised."""
    return FORGOTTEN_PREFIX + hashlib.sha256(openid.encode()).hexdigest()[:40]


def is_forgotten(resident: Resident) -> bool:
    """True for the tombstone of a forgotten resident."""
    return is_forgotten_openid(resident.openid)


def find_resident(
    session: Session, openid: str | None, address: str | None = None, name: str | None = None
) -> Resident | AlreadyForgotten:
    """The resident by openid (a register entry's `register:...` too), or by address and name."""
    if openid:
        return _by_openid(session, openid)
    if not address:
        raise ForgetError("name the resident by openid, or by --address (and --name)")
    return _by_address(session, address, name)


def _by_openid(session: Session, openid: str) -> Resident | AlreadyForgotten:
    resident = session.scalar(select(Resident).where(Resident.openid == openid))
    if resident is not None and not is_forgotten(resident):
        return resident
    tombstone = resident or session.scalar(
        select(Resident).where(Resident.openid == forgotten_openid(openid))
    )
    if tombstone is not None:
        return AlreadyForgotten(tombstone.id, _forgotten_at(session, tombstone.id))
    if session.scalar(select(Worker.id).where(Worker.openid == openid)) is not None:
        raise ForgetError("that openid is a staff member's: use `run.py worker leave`")
    raise ForgetError("no resident has that openid")


def _by_address(session: Session, address: str, name: str | None) -> Resident:
    parsed = parse_address(normalize(address))
    if parsed is None:
        raise ForgetError(f"not an address: {address!r} (write it like 3号楼2单元301)")
    building = session.scalar(select(Building).where(Building.name == parsed.building))
    if building is None:
        raise ForgetError(f"no building {parsed.building} in the community")
    same_unit = Resident.unit.is_(None) if parsed.unit is None else Resident.unit == parsed.unit
    query = select(Resident).where(
        Resident.building_id == building.id, same_unit, Resident.room == parsed.room
    )
    if name:
        query = query.where(Resident.name == name.strip())
    found = list(session.scalars(query.order_by(Resident.id)))
    if not found:
        raise ForgetError(f"nobody {'of that name ' if name else ''}lives at {address}")
    if len(found) > 1:
        raise ForgetError(f"{len(found)} residents at {address}: give --name, or their openid")
    return found[0]


def _forgotten_at(session: Session, resident_id: int) -> datetime | None:
    query = select(func.max(AuditEvent.created_at)).where(
        AuditEvent.action == FORGOTTEN_EVENT, AuditEvent.subject == _subject(resident_id)
    )
    return session.scalar(query)


def _subject(resident_id: int) -> str:
    return f"resident #{resident_id}"


def preview(session: Session, resident: Resident) -> Forgetting:
    """What forgetting the resident would erase, changing nothing."""
    ids = _ticket_ids(session, resident)
    pushes = select(OutboxMessage.id).where(_their_pushes(resident, ids))
    messages = _their_messages(resident, ids)
    media = session.scalars(
        select(InboundMessage.media_path).where(messages, InboundMessage.media_path != "")
    )
    return Forgetting(
        resident_id=resident.id,
        tickets=len(ids),
        open_tickets=_open_ticket_ids(session, ids),
        messages=_count(session, select(InboundMessage.id).where(messages)),
        pushes=_count(session, pushes),
        pushes_cancelled=_count(session, pushes.where(OutboxMessage.status == "pending")),
        family_contacts=len(resident.family),
        media=list(media),
    )


def _count(session: Session, query: Select[tuple[int]]) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def forget(services: Services, resident: Resident, actor: str) -> Forgetting:
    """Unbind and erase the resident in the caller's transaction; media files are the caller's to delete."""
    session, now = services.session, services.now
    session.flush()
    ids = _ticket_ids(session, resident)
    result = Forgetting(resident.id, open_tickets=_open_ticket_ids(session, ids))
    result.family_contacts = len(resident.family)
    tombstone = forgotten_openid(resident.openid)
    pushes = _their_pushes(resident, ids)
    result.pushes_cancelled = session.execute(
        update(OutboxMessage)
        .where(pushes, OutboxMessage.status == "pending")
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    ).rowcount
    result.pushes = erase_pushes(session, pushes)
    session.execute(
        update(OutboxMessage)
        .where(_to_them(resident))
        .values(recipient=tombstone)
        .execution_options(synchronize_session=False)
    )
    result.tickets = erase_tickets(session, ids, now)
    result.messages, result.media = erase_messages(session, _their_messages(resident, ids), now)
    _unlink_messages(session, resident.openid, tombstone)
    _erase_household(session, resident)
    # The UPDATEs above went past the session's objects: read them afresh from here on.
    session.expire_all()
    _make_tombstone(resident, tombstone)
    _record(services, resident, ids, result, actor)
    return result


def _ticket_ids(session: Session, resident: Resident) -> list[int]:
    return list(
        session.scalars(select(Ticket.id).where(Ticket.resident_id == resident.id).order_by(Ticket.id))
    )


def _open_ticket_ids(session: Session, ids: list[int]) -> list[int]:
    query = select(Ticket.id).where(Ticket.id.in_(ids), Ticket.status.in_(OPEN_STATUSES)).order_by(Ticket.id)
    return list(session.scalars(query))


def _their_pushes(resident: Resident, ticket_ids: list[int]) -> ColumnElement[bool]:
    """Pushes to the resident or their family, about their tickets, or sent naming them (visit lists)."""
    return or_(
        OutboxMessage.resident_id == resident.id,
        OutboxMessage.ticket_id.in_(ticket_ids),
        _to_them(resident),
        # Only sent ones: a push still to go out about someone else keeps its words.
        and_(OutboxMessage.status != "pending", _mentions(OutboxMessage.text, resident)),
    )


def _to_them(resident: Resident) -> ColumnElement[bool]:
    """Pushes addressed to the resident, or to their family as family (a relative's own pushes stay)."""
    as_family = and_(
        OutboxMessage.recipient.in_([family_address(contact) for contact in resident.family]),
        OutboxMessage.resident_id.is_(None),
        OutboxMessage.worker_id.is_(None),
    )
    return or_(OutboxMessage.recipient == resident.openid, as_family)


def _their_messages(resident: Resident, ticket_ids: list[int]) -> ColumnElement[bool]:
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


def _unlink_messages(session: Session, openid: str, tombstone: str) -> None:
    """Their messages' sender becomes the tombstone; event keys (evt:<openid>:<time>:...) lose the openid."""
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.dedup_key.startswith(f"evt:{openid}:", autoescape=True))
        .values(dedup_key=f"evt:{tombstone}:" + cast(InboundMessage.id, String))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(InboundMessage)
        .where(InboundMessage.openid == openid)
        .values(openid=tombstone)
        .execution_options(synchronize_session=False)
    )


def _erase_household(session: Session, resident: Resident) -> None:
    """Check-in answers and visit notes say how the person is: they go, the dated rows stay for reports.

    A check-in still waiting for an answer or a knock goes whole: no reminder, call list or 敲门 task
    for nobody, and no "the worker has been" push to a family that is gone; an open 敲门 ticket stays.
    """
    waiting = (*OPEN_ROWS, "missed")
    session.execute(delete(CheckIn).where(CheckIn.resident_id == resident.id, CheckIn.status.in_(waiting)))
    for model, column in ((CheckIn, CheckIn.answer), (Visit, Visit.note)):
        session.execute(
            update(model)
            .where(model.resident_id == resident.id, column.is_not(None))
            .values({column.key: None})
            .execution_options(synchronize_session=False)
        )
    session.execute(delete(FamilyContact).where(FamilyContact.resident_id == resident.id))


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
            subject=_subject(resident.id),
            detail=result.summary(),
            created_at=services.now,
        )
    )
    for ticket in services.session.scalars(select(Ticket).where(Ticket.id.in_(ids))):
        record_event(services, ticket, FORGOTTEN_EVENT, actor[:80])
    for ticket in services.session.scalars(select(Ticket).where(Ticket.id.in_(result.open_tickets))):
        tell_worker(services, ticket.assignee, ticket, HOLDER_NOTICE.format(number=ticket.id), "status")
