"""GET requests: the spec's filters, and the public view of a ticket (building-level, nothing personal)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.open311.catalog import Catalog, Service
from bot.open311.formats import Open311Error, parse_w3c, w3c
from bot.open311.public import public_text
from config.settings import Settings
from handlers.texts import STATUS_LABELS
from handlers.tickets.core import OPEN_STATUSES
from storage.db import LARGEST_ID
from storage.models import InboundMessage, Resident, Ticket, TicketEvent

STATUSES = ("open", "closed")
CLOSED_STATUSES = ("resolved", "closed", "cancelled")
# msg_type of the inbound_messages row a request filed through the API is kept as.
FILED_TYPE = "open311"
# The worker's last progress or resolve note explains these states to the public.
NOTE_EVENTS = ("progress", "resolve")
NOTED_STATUSES = frozenset({"in_progress", "resolved", "closed"})


@dataclass(frozen=True)
class Filters:
    """What GET requests asked for: ids (which override everything else) or a window and filters."""

    ids: tuple[int, ...] = ()
    services: tuple[Service, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None


def parse_filters(values: Mapping[str, str], catalog: Catalog, settings: Settings, now: datetime) -> Filters:
    """Read service_request_id, service_code, status, start_date and end_date; refuse what is malformed."""
    ids = _request_ids(values.get("service_request_id", ""), settings.open311.max_requests)
    if ids:
        return Filters(ids=ids)
    services = []
    for code in _list(values.get("service_code", "")):
        service = catalog.get(code)
        if service is None:
            raise Open311Error(404, f"service_code 不存在:{code}")
        services.append(service)
    statuses = _list(values.get("status", ""))
    for status in statuses:
        if status not in STATUSES:
            raise Open311Error(400, f"status 只能是 open 或 closed,收到:{status}")
    start, end = request_window(values, settings, now)
    return Filters(services=tuple(services), statuses=statuses, start=start, end=end)


def _list(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


def _request_ids(value: str, limit: int) -> tuple[int, ...]:
    parts = _list(value)
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise Open311Error(400, "service_request_id 应为以逗号分隔的数字")
    if len(parts) > limit:
        raise Open311Error(400, f"service_request_id 一次最多 {limit} 个")
    return tuple(_number(part) for part in parts)


def request_id(text: str) -> int | None:
    """A service_request_id as a ticket number; None when it can name no ticket (not a number, too big)."""
    if not (text.isascii() and text.isdigit()):
        return None
    number = _number(text)
    return number if number <= LARGEST_ID else None


def _number(digits: str) -> int:
    """The number; past LARGEST_ID only LARGEST_ID + 1 (thousands of digits would not even parse)."""
    return int(digits) if len(digits) <= len(str(LARGEST_ID)) else LARGEST_ID + 1


def request_window(
    values: Mapping[str, str], settings: Settings, now: datetime
) -> tuple[datetime, datetime]:
    """start_date to end_date (of requests, or of updates); by default the most recent window_days."""
    span = timedelta(days=settings.open311.window_days)
    start_text, end_text = values.get("start_date", "").strip(), values.get("end_date", "").strip()
    start = parse_w3c(start_text, "start_date", settings.timezone) if start_text else None
    end = parse_w3c(end_text, "end_date", settings.timezone) if end_text else None
    if start is not None and end is not None:
        if end < start:
            raise Open311Error(400, "end_date 早于 start_date")
        if end - start > span:
            raise Open311Error(400, f"start_date 到 end_date 不能超过 {span.days} 天")
        return start, end
    if start is not None:
        return start, start + span
    if end is not None:
        return end - span, end
    return now - span, now


def find_requests(session: Session, catalog: Catalog, filters: Filters, limit: int) -> list[Ticket]:
    """Public tickets matching the filters, newest first (ids: in the order asked), at most `limit`."""
    public = catalog.tickets_of(list(filters.services or catalog.services))
    query = (
        select(Ticket)
        .where(public)
        .options(
            selectinload(Ticket.resident).selectinload(Resident.building),
            selectinload(Ticket.resident).selectinload(Resident.family),
            selectinload(Ticket.grid),
        )
    )
    if filters.ids:
        # A number past the largest id names no ticket (and the database could not even compare it).
        possible = [number for number in filters.ids if number <= LARGEST_ID]
        found = {t.id: t for t in session.scalars(query.where(Ticket.id.in_(possible)))}
        return [found[number] for number in filters.ids if number in found]
    assert filters.start is not None and filters.end is not None
    query = query.where(Ticket.created_at >= filters.start, Ticket.created_at <= filters.end)
    if filters.statuses:
        chosen = [
            *(OPEN_STATUSES if "open" in filters.statuses else ()),
            *(CLOSED_STATUSES if "closed" in filters.statuses else ()),
        ]
        query = query.where(Ticket.status.in_(chosen))
    return list(session.scalars(query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit)))


def request_rows(session: Session, catalog: Catalog, settings: Settings, found: list[Ticket]) -> list[dict]:
    """The tickets as GeoReport service requests, in the spec's field order."""
    ids = [ticket.id for ticket in found]
    notes = _last_notes(session, ids)
    filed = _filed_messages(session, ids)
    return [_row(ticket, catalog, settings, notes.get(ticket.id), filed.get(ticket.id)) for ticket in found]


def _last_notes(session: Session, ids: list[int]) -> dict[int, str]:
    query = (
        select(TicketEvent.ticket_id, TicketEvent.note)
        .where(
            TicketEvent.ticket_id.in_(ids), TicketEvent.kind.in_(NOTE_EVENTS), TicketEvent.note.is_not(None)
        )
        .order_by(TicketEvent.id)
    )
    return {ticket_id: note for ticket_id, note in session.execute(query)}


def _filed_messages(session: Session, ids: list[int]) -> dict[int, InboundMessage]:
    query = select(InboundMessage).where(
        InboundMessage.ticket_id.in_(ids), InboundMessage.msg_type == FILED_TYPE
    )
    return {message.ticket_id: message for message in session.scalars(query) if message.ticket_id}


def _row(
    ticket: Ticket, catalog: Catalog, settings: Settings, note: str | None, filed: InboundMessage | None
) -> dict[str, Any]:
    service = catalog.service_of(ticket.category, ticket.kind)
    assert service is not None  # find_requests selects public tickets only
    resident = ticket.resident
    names = [resident.name, *(contact.name for contact in resident.family)]
    record = json.loads(filed.raw) if filed is not None else {}
    if filed is not None:
        building = record.get("building")
    else:
        building = resident.building.name if resident.building else None
    tz = settings.timezone
    return {
        "service_request_id": str(ticket.id),
        "status": "closed" if ticket.status in CLOSED_STATUSES else "open",
        "status_notes": _status_notes(ticket, note, names),
        "service_name": service.name,
        "service_code": service.code,
        "description": public_text(filed.content if filed is not None else ticket.summary, names),
        "agency_responsible": agency(ticket, settings.community_name),
        "service_notice": None,
        "requested_datetime": w3c(ticket.created_at, tz),
        "updated_datetime": w3c(_updated(ticket), tz),
        "expected_datetime": w3c(ticket.resolve_due_at, tz),
        "address": f"{building},{settings.community_name}" if building else settings.community_name,
        "address_id": building,
        "zipcode": None,
        "lat": filed.latitude if filed is not None else None,
        "long": filed.longitude if filed is not None else None,
        "media_url": record.get("media_url"),
    }


def _status_notes(ticket: Ticket, note: str | None, names: list[str | None]) -> str:
    """'处理中:已联系物业,下午来修', '已办结:阀门已更换', or just the state in Chinese."""
    label = STATUS_LABELS.get(ticket.status, ticket.status)
    if note and ticket.status in NOTED_STATUSES:
        return f"{label}:{public_text(note, names)}"
    return label


def _updated(ticket: Ticket) -> datetime:
    """For a closed request, when it was closed; else when it last changed."""
    if ticket.status in ("closed", "cancelled") and ticket.closed_at is not None:
        return ticket.closed_at
    if ticket.status == "resolved" and ticket.resolved_at is not None:
        return ticket.resolved_at
    return ticket.updated_at


def agency(ticket: Ticket, community_name: str) -> str:
    """The grid that handles the request ('幸福里社区第一网格'), or the community office."""
    return f"{community_name}{ticket.grid.name}" if ticket.grid else community_name
