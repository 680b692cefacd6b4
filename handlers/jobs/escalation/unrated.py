"""Resolved but never rated: the ticket closes, and the resident is told."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement

from handlers.context import Services
from handlers.domain_settings import DomainSettings
from handlers.jobs.escalation.pages import SYSTEM, touch
from handlers.tickets import lifecycle
from handlers.tickets.lifecycle import tell_resident
from storage.models import Ticket


def unrated_due(settings: DomainSettings, now: datetime) -> list[ColumnElement[bool]]:
    """Resolved, unrated, and the rating was asked for rating_timeout_hours ago or more."""
    asked_before = now - timedelta(hours=settings.escalation.rating_timeout_hours)
    return [
        Ticket.status == "resolved",
        Ticket.rating.is_(None),
        Ticket.rating_requested_at <= asked_before,
    ]


def close_unrated(services: Services, ticket: Ticket) -> str:
    """Close a resolved ticket the resident did not rate in time, and let them know."""
    hours = services.settings.escalation.rating_timeout_hours
    lifecycle.apply(services, ticket, "close", SYSTEM, f"居民{hours}小时未评价,自动关闭")
    touch(services, ticket)
    tell_resident(
        services,
        ticket,
        f"您的工单 #{ticket.id} 已办结归档,感谢您的支持!如果问题又出现了,直接发消息告诉我们就行。",
    )
    return "closed_unrated"
