"""Signed for but past the resolve deadline: the holder and the grid leader are paged."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_

from handlers.context import Services
from handlers.domain_settings import DomainSettings
from handlers.jobs.escalation.pages import SYSTEM, names_of, page, span, ticket_lines, touch, unique_people
from handlers.texts import local_time
from handlers.tickets.core import SIGNED, community_desk, record_event, worker_title
from storage.models import Ticket


def overdue_due(settings: DomainSettings, now: datetime) -> list[ColumnElement[bool]]:
    """Signed for, past the resolve deadline, not yet paged (emergencies: not paged lately)."""
    repage_before = now - timedelta(minutes=settings.escalation.emergency_overdue_repage_minutes)
    return [
        Ticket.status.in_(SIGNED),
        Ticket.resolve_due_at <= now,
        or_(
            Ticket.overdue_paged_at.is_(None),
            and_(Ticket.category == "emergency", Ticket.overdue_paged_at <= repage_before),
        ),
    ]


def page_overdue(services: Services, ticket: Ticket) -> str:
    """Tell the holder and the grid leader (or the duty desk) that the resolve deadline has passed."""
    leaders = [ticket.grid.leader] if ticket.grid and ticket.grid.leader else community_desk(services.session)
    people = unique_people([ticket.assignee, *leaders])
    late = span(services.now - ticket.resolve_due_at)
    due = local_time(ticket.resolve_due_at, services.settings.timezone)
    holder = worker_title(ticket.assignee) if ticket.assignee else "暂无"
    lines = [
        f"【已超期】工单 #{ticket.id} 应在{due}前办结,已超期{late},请尽快处理。",
        *ticket_lines(ticket),
        f"处理人:{holder}",
        f"办好后请回复“办结 {ticket.id} 处理说明”。",
    ]
    ticket.overdue_paged_at = services.now
    record_event(services, ticket, "overdue_paged", SYSTEM, f"办结已超期{late},通知{names_of(people)}")
    touch(services, ticket)
    page(services, ticket, people, "\n".join(lines), "overdue")
    return "overdue_pages"
