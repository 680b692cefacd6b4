"""Warnings before a deadline: the time to sign for, or to resolve, a ticket is nearly up.

Warnings fire when less than (1 - warn_at_fraction) of the category's configured window is left before
the current deadline: the window ends at the deadline and is as long as the category's setting, so it
starts at the last page or hand-over for the acknowledgement, and at opening (moved by any extension)
for the resolution.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement

from config.settings import Deadline
from handlers.context import Services
from handlers.domain_settings import DomainSettings
from handlers.jobs.escalation.pages import SYSTEM, holders_of, names_of, page, span, ticket_lines, touch
from handlers.tickets.core import SIGNED, UNSIGNED, deadline_key, record_event
from storage.models import Ticket


def ack_warning_due(settings: DomainSettings, now: datetime) -> list[ColumnElement[bool]]:
    """Unsigned, non-emergency, not yet warned, the sign-for deadline near (refined by _lead)."""
    return [
        Ticket.status.in_(UNSIGNED),
        Ticket.category != "emergency",
        Ticket.ack_warned_at.is_(None),
        Ticket.ack_due_at > now,
        Ticket.ack_due_at <= now + _longest_lead(settings, resolve=False),
    ]


def resolve_warning_due(settings: DomainSettings, now: datetime) -> list[ColumnElement[bool]]:
    """Signed for, not yet warned, the resolve deadline near (refined by _lead)."""
    return [
        Ticket.status.in_(SIGNED),
        Ticket.resolve_warned_at.is_(None),
        Ticket.resolve_due_at > now,
        Ticket.resolve_due_at <= now + _longest_lead(settings, resolve=True),
    ]


def warn_unsigned(services: Services, ticket: Ticket) -> str | None:
    """Remind the holder that the time to sign for the ticket is nearly up."""
    return _warn(services, ticket, resolve=False)


def warn_unresolved(services: Services, ticket: Ticket) -> str | None:
    """Remind the holder that the time to resolve the ticket is nearly up."""
    return _warn(services, ticket, resolve=True)


def _warn(services: Services, ticket: Ticket, *, resolve: bool) -> str | None:
    due = ticket.resolve_due_at if resolve else ticket.ack_due_at
    if due - services.now > _lead(services.settings, ticket, resolve=resolve):
        return None
    left = span(due - services.now)
    if resolve:
        ticket.resolve_warned_at = services.now
        ask = (
            f"还有{left}需办结,办好后请回复“办结 {ticket.id} 处理说明”;"
            f"需要延期请回复“延期 {ticket.id} 小时数 原因”。"
        )
    else:
        ticket.ack_warned_at = services.now
        ask = f"还有{left}需签收,请尽快回复“签收 {ticket.id}”。"
    holders = holders_of(services, ticket)
    text = "\n".join([f"【即将超时】工单 #{ticket.id} {ask}", *ticket_lines(ticket)])
    page(services, ticket, holders, text, "deadline_warning")
    what = "办结" if resolve else "签收"
    kind = "resolve_warning" if resolve else "ack_warning"
    record_event(services, ticket, kind, SYSTEM, f"提醒{names_of(holders)}:{what}期限还剩{left}")
    touch(services, ticket)
    return "warned"


def _lead(settings: DomainSettings, ticket: Ticket, *, resolve: bool) -> timedelta:
    """Warn once less than this is left: the unused share of the category's configured window."""
    deadline = settings.deadline(deadline_key(ticket.category, ticket.kind))
    return _window(deadline, resolve) * (1 - settings.escalation.warn_at_fraction)


def _longest_lead(settings: DomainSettings, *, resolve: bool) -> timedelta:
    """The largest lead of any category: the query's bound, refined per ticket by _lead."""
    longest = max(_window(deadline, resolve) for deadline in settings.deadlines.values())
    return longest * (1 - settings.escalation.warn_at_fraction)


def _window(deadline: Deadline, resolve: bool) -> timedelta:
    """The configured time to resolve, or to sign for, one kind of ticket."""
    return timedelta(hours=deadline.resolve_hours) if resolve else timedelta(minutes=deadline.ack_minutes)
