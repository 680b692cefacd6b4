"""Possible emergencies and residents pressing: words that say "now" when nothing else placed them.

A message the rules cannot place but that carries urgency or distress ("快来人", "怎么办啊") gets the
safety line at once and a push to the worker, who has 10 minutes to sign for it; the leader is paged
only if it climbs the ladder. "急" or "快点" about a ticket already open raises that ticket instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from handlers.context import Reply, Services
from handlers.tickets.core import (
    OPEN_STATUSES,
    POSSIBLE_EMERGENCY,
    UNSIGNED,
    assignee_phrase,
    link_message,
    open_ticket,
    open_tickets,
    record_event,
)
from handlers.tickets.lifecycle import tell_worker
from storage.models import Resident, Ticket
from storage.repositories import tickets as ticket_queries

SAFETY_LINE = "如遇危及生命的紧急情况,请立即拨打120(急救)、110(报警)或119(火警)。"
# A pressed ticket must be signed for within this long; a second press inside it pushes nobody again.
PRESS_WINDOW = timedelta(minutes=10)


def handle_possible_emergency(services: Services, resident: Resident, text: str, message_id: int) -> Reply:
    """An urgent ticket for the grid's worker with a 10-minute deadline, and the safety line first."""
    ticket = open_ticket(services, resident, "other", text, kind=POSSIBLE_EMERGENCY, message_id=message_id)
    lines = [
        SAFETY_LINE,
        f"我们已请{assignee_phrase(ticket, with_phone=True)}马上联系您,工单号 #{ticket.id}。",
        f"社区值班电话:{services.settings.duty_phone}",
    ]
    return Reply("\n".join(lines), ticket.id)


def press_open_ticket(services: Services, resident: Resident, text: str, message_id: int) -> Reply | None:
    """Raise the resident's newest open ticket; None when they have none (then it is a new matter)."""
    tickets = open_tickets(services, resident)
    if not tickets:
        return None
    return raise_ticket(services, tickets[0], text, message_id)


def raise_ticket(services: Services, ticket: Ticket, text: str, message_id: int | None) -> Reply:
    """Urgent priority, a sign-for deadline within 10 minutes, and the holder told (once per window)."""
    link_message(services, ticket, message_id, f"居民催促:{text}")
    pressed_recently = _pressed_since(services, ticket, services.now - PRESS_WINDOW)
    if ticket.category != "emergency":
        ticket.priority = "urgent"
    if ticket.status in UNSIGNED:
        ticket.ack_due_at = min(ticket.ack_due_at, services.now + PRESS_WINDOW)
    if not pressed_recently:
        record_event(services, ticket, "pressed", "居民", text[:200])
        _tell_holder(services, ticket, text)
    return Reply(
        f"已催促{assignee_phrase(ticket, with_phone=True)}尽快处理您的工单 #{ticket.id}。\n{SAFETY_LINE}",
        ticket.id,
    )


def _pressed_since(services: Services, ticket: Ticket, since: datetime) -> bool:
    return ticket_queries.event_after(services.session, ticket.id, "pressed", since)


def _tell_holder(services: Services, ticket: Ticket, text: str) -> None:
    holder = ticket.assignee
    if holder is None or ticket.status not in OPEN_STATUSES:
        return
    minutes = int(PRESS_WINDOW.total_seconds() // 60)
    ask = f"请在{minutes}分钟内签收并联系居民。" if ticket.status in UNSIGNED else "请尽快联系居民。"
    push = (
        f"【居民催促】工单 #{ticket.id}\n居民又发来:{text}\n"
        f"地址:{ticket.resident.address or '未登记住址'}\n原内容:{ticket.summary}\n{ask}"
    )
    tell_worker(services, holder, ticket, push, "urgent")
