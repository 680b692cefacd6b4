"""GET service request updates (mySociety's servicerequestupdates extension): each ticket's public history.

An update is one audit event that changes what the public sees: opened, signed for, progress, resolved,
closed, cancelled, reopened, merged as a duplicate. Statuses are mySociety's (open, action_scheduled,
in_progress, fixed, closed, no_further_action, duplicate); a reopened ticket is `open` again, as
FixMyStreet reopens a report, with `external_status_code` reopened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.open311.catalog import Catalog
from bot.open311.formats import w3c
from bot.open311.public import public_text
from config.settings import Settings
from handlers.tickets.actions import duplicate_of
from storage.models import Resident, Ticket, TicketEvent


@dataclass(frozen=True)
class PublicStep:
    """How one kind of audit event reads in the public history."""

    status: str
    label: str
    # The worker's own words go out too (masked): a progress note, a resolution, a reason.
    with_note: bool = False
    external_status_code: str | None = None


STEPS: Mapping[str, PublicStep] = {
    "opened": PublicStep("open", "已受理"),
    "acknowledge": PublicStep("action_scheduled", "已签收"),
    "progress": PublicStep("in_progress", "处理中", with_note=True),
    "resolve": PublicStep("fixed", "已办结", with_note=True),
    "close": PublicStep("closed", "已关闭"),
    "cancel": PublicStep("no_further_action", "已取消"),
    "reopen": PublicStep("open", "重新办理", external_status_code="reopened"),
    "duplicate": PublicStep("duplicate", "与其他工单重复,已合并办理"),
}


def find_updates(
    session: Session, catalog: Catalog, start: datetime, end: datetime, limit: int
) -> list[TicketEvent]:
    """Public updates in the window, oldest first (a client goes on from the last one), at most `limit`."""
    query = (
        select(TicketEvent)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            catalog.tickets_of(list(catalog.services)),
            TicketEvent.kind.in_(list(STEPS)),
            TicketEvent.created_at >= start,
            TicketEvent.created_at <= end,
        )
        .options(selectinload(TicketEvent.ticket).selectinload(Ticket.resident).selectinload(Resident.family))
        .order_by(TicketEvent.created_at, TicketEvent.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def update_rows(events: list[TicketEvent], settings: Settings) -> list[dict[str, Any]]:
    """The events as request_update rows, in the extension's field order, with nothing personal."""
    return [_row(event, settings.timezone) for event in events]


def _row(event: TicketEvent, timezone: str) -> dict[str, Any]:
    step = STEPS[event.kind]
    resident = event.ticket.resident
    names = [resident.name, *(contact.name for contact in resident.family)]
    note = public_text(event.note, names) if step.with_note and event.note else None
    description = f"{step.label}:{note}" if note else step.label
    if event.kind == "duplicate" and (original := duplicate_of(event.note)) is not None:
        # The number is the kept request's id, public like this one's: not masked as a phone would be.
        description = f"与请求 {original} 重复,已合并到该请求办理"
    return {
        "update_id": str(event.id),
        "service_request_id": str(event.ticket_id),
        "status": step.status,
        "updated_datetime": w3c(event.created_at, timezone),
        "description": description,
        "media_url": None,
        "external_status_code": step.external_status_code,
    }
