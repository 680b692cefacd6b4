"""Unsigned emergencies: page every rung until someone signs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func

from handlers.context import Services
from handlers.domain_settings import DomainSettings
from handlers.jobs.escalation.pages import SYSTEM, names_of, page, span, ticket_history, ticket_lines, touch
from handlers.tickets.core import UNSIGNED, record_event
from handlers.tickets.ladder import COMMUNITY, STREET, holder_and_above, ladder, rungs_up_to
from storage.models import Ticket


def emergency_due(settings: DomainSettings, now: datetime) -> list[ColumnElement[bool]]:
    """Unsigned emergencies last paged at least emergency_repage_minutes ago."""
    repage_before = now - timedelta(minutes=settings.escalation.emergency_repage_minutes)
    return [
        Ticket.status.in_(UNSIGNED),
        Ticket.category == "emergency",
        func.coalesce(Ticket.last_paged_at, Ticket.created_at) <= repage_before,
    ]


def repage_emergency(services: Services, ticket: Ticket) -> str:
    """Page every staffed rung up to the community office, and the street office once it drags on."""
    count = ticket.repeat_pages + 1
    top = STREET if ticket.repeat_pages >= services.settings.escalation.top_repeats else COMMUNITY
    rungs = rungs_up_to(ladder(services.session, ticket), top)
    # The holder first, even one the grid's ladder no longer shows (the grid changed hands, a 转派 in).
    people = holder_and_above(rungs, ticket.assignee, top)
    history = ticket_history(services, ticket)
    record_event(services, ticket, "emergency_repage", SYSTEM, f"第{count}次紧急呼叫:{names_of(people)}")
    ticket.repeat_pages, ticket.last_paged_at = count, services.now
    if rungs:
        ticket.escalation_level = max(ticket.escalation_level, rungs[-1].level)
    touch(services, ticket)
    waited = span(services.now - ticket.created_at)
    lines = [
        f"【紧急求助 · 第{count}次呼叫】 #{ticket.id}",
        f"居民求助已过{waited},至今无人签收!",
        *ticket_lines(ticket),
        "经过:",
        *history,
        f"请立即联系居民并赶往现场,同时回复“签收 {ticket.id}”让大家知道有人在处理。",
    ]
    page(services, ticket, people, "\n".join(lines), "emergency")
    return "emergency_pages"
