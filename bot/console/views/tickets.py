"""One ticket's whole story, and the actions the person may take on it."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from flask import Blueprint, abort
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.console.pages import Staff, colleagues, console, page, staff
from bot.console.views.board import card_of
from handlers.texts import CATEGORY_LABELS, PUSH_STATUS_LABELS, ROLE_LABELS, STATUS_LABELS
from handlers.tickets.core import OPEN_STATUSES
from handlers.tickets.ladder import RUNG_NAMES
from handlers.tickets.lifecycle import ACTION_LABELS, TRANSITIONS, may_act
from storage.db import transaction
from storage.models import InboundMessage, OutboxMessage, Ticket, TicketEvent, Worker

# Row ids are 32-bit integers on PostgreSQL.
MAX_ROW_ID = 2**31 - 1
# The console's buttons, in the page's order (bot/console/views/actions.py runs them).
ACTIONS = (
    "acknowledge",
    "progress",
    "resolve",
    "send_back",
    "reassign",
    "extend",
    "recategorise",
    "duplicate",
)
ESCALATION_EVENTS = frozenset(
    {"escalate", "repaged", "emergency_repage", "overdue_paged", "escalation_exhausted", "ack_warning",
     "resolve_warning", "send_back", "reassign"}
)  # fmt: skip
# Buttons for leaders and offices only (the WeChat 转派 rule).
LEADERS_ONLY = ("reassign", "recategorise", "duplicate")
# What the audit trail shows: the actions as the state machine names them, and the system's own events.
EVENT_LABELS = ACTION_LABELS | {
    "opened": "提交工单",
    "assigned": "派单",
    "escalate": "升级督办",
    "repaged": "再次催办",
    "emergency_repage": "紧急呼叫",
    "overdue_paged": "超期催办",
    "escalation_exhausted": "停止自动催办",
    "ack_warning": "签收提醒",
    "resolve_warning": "办结提醒",
    "follow_up": "补充信息",
    "reassigned": "改派",
    "recategorise": "改类",
    "pressed": "居民催促",
    "worker_photo": "上传照片",
    "worker_voice": "上传语音",
    "merged": "并入重复工单",
    "family_contact": "家属联系",
}


def register(blueprint: Blueprint) -> None:
    """Add the ticket page's route."""
    blueprint.add_url_rule("/tickets/<int:ticket_id>", "ticket", ticket_page)


# One ticket


def visible_ticket(session: Session, me: Staff, ticket_id: int) -> Ticket:
    """The ticket if this person may see it; 404 otherwise (whether or not it exists)."""
    if not 0 < ticket_id <= MAX_ROW_ID:
        abort(404)  # no such row, and the database would refuse to compare the number at all
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or not me.scope.sees_ticket(ticket):
        abort(404)
    return ticket


def ticket_page(ticket_id: int) -> str:
    """The whole story: the resident, their messages, deadlines, the audit trail, escalations, pushes."""
    me, app = staff(), console()
    now = app.clock()
    with transaction(app.factory) as session:
        ticket = visible_ticket(session, me, ticket_id)
        worker = session.get(Worker, me.worker_id)
        return page(
            "ticket.html",
            **story(session, ticket, now),
            actions=_available_actions(ticket, me),
            may_act=worker is not None and may_act(worker, ticket),
            colleagues=colleagues(session, me),
            categories=[
                label for key, label in CATEGORY_LABELS.items() if key not in ("knock", ticket.category)
            ],
            max_extension=app.settings.escalation.max_extension_hours,
        )


def story(session: Session, ticket: Ticket, now: datetime) -> dict[str, Any]:
    """What ticket.html shows of a ticket to anyone who may read it (the street office's page too)."""
    messages = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.ticket_id == ticket.id)
        .order_by(InboundMessage.received_at, InboundMessage.id)
    ).all()
    pushes = session.scalars(
        select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id).order_by(OutboxMessage.id)
    ).all()
    events = [_described(event) for event in ticket.events]
    return {
        "ticket": ticket,
        "card": card_of(ticket, now),
        "messages": messages,
        "escalations": folded([e for e in events if e.kind in ESCALATION_EVENTS], _same_event),
        "trail": folded(events, _same_event),
        "told_resident": _told_resident(ticket, messages, pushes),
        "staff_pushes": folded([_staff_line(p) for p in pushes if p.worker_id is not None], _same_push),
        "rung": RUNG_NAMES[ticket.escalation_level] if ticket.escalation_level < len(RUNG_NAMES) else "",
        "labels": {"status": STATUS_LABELS, "category": CATEGORY_LABELS},
        "roles": ROLE_LABELS,
    }


@dataclass(frozen=True)
class Notice:
    """Something the resident was told about the ticket: a push, or the reply to their own message."""

    created_at: datetime
    state: str
    text: str


PUSH_STATES = {
    "sent": "已送达",
    "pending": "待发送",
    "folded": "已并入一条消息",
    "held": "待居民下次留言时告知",
    "superseded": "已被更新的消息取代",
    "shown": "居民已在“我的工单”中查看",
}


class Timed(Protocol):
    """A line of the page with its time."""

    @property
    def created_at(self) -> datetime: ...


Line = TypeVar("Line", bound=Timed)


def _told_resident(
    ticket: Ticket, messages: Sequence[InboundMessage], pushes: Sequence[OutboxMessage]
) -> list[Notice]:
    """The replies the resident got at once (an emergency's advice among them) and the pushes, by time."""
    replies = [
        Notice(m.received_at, "即时回复", m.reply)
        for m in messages
        if m.reply and m.openid == ticket.resident.openid
    ]
    sent = [
        Notice(p.created_at, PUSH_STATES.get(p.status, "未送达"), p.text) for p in pushes if p.resident_id
    ]
    return sorted(replies + sent, key=lambda notice: notice.created_at)


@dataclass(frozen=True)
class StaffLine:
    """One push to a member of staff about the ticket, as the page lists it."""

    recipient: str
    state: str
    created_at: datetime


def _staff_line(push: OutboxMessage) -> StaffLine:
    return StaffLine(push.recipient_name, PUSH_STATUS_LABELS.get(push.status, "未送达"), push.created_at)


def _same_push(line: StaffLine) -> tuple[str, str]:
    return line.recipient, line.state


def _same_event(line: EventLine) -> tuple[str, str, str]:
    return line.kind, line.actor, line.note


@dataclass(frozen=True)
class Run(Generic[Line]):
    """Lines that say the same thing one after another, shown once with their count and time span."""

    first: Line
    last_at: datetime
    count: int


def folded(lines: Sequence[Line], same: Callable[[Line], Hashable]) -> list[Run[Line]]:
    """Consecutive lines that say the same thing ("已通知 王芳 · 已送达" twelve times) as one run each."""
    runs: list[Run[Line]] = []
    for line in lines:
        if runs and same(runs[-1].first) == same(line):
            runs[-1] = Run(runs[-1].first, line.created_at, runs[-1].count + 1)
        else:
            runs.append(Run(line, line.created_at, 1))
    return runs


@dataclass(frozen=True)
class EventLine:
    """One line of the audit trail as staff read it."""

    kind: str
    label: str
    actor: str
    note: str
    created_at: datetime


def _described(event: TicketEvent) -> EventLine:
    note = event.note or ""
    if event.kind == "assigned":
        # "网格员王芳(grid_worker)": the reason in brackets is for the audit trail, not for people.
        note = note.split("(")[0]
    return EventLine(event.kind, EVENT_LABELS.get(event.kind, "更新"), event.actor, note, event.created_at)


def _available_actions(ticket: Ticket, me: Staff) -> list[str]:
    """The buttons worth showing: actions the state machine allows from the current state."""
    actions = [
        action for action in ACTIONS if action in TRANSITIONS and ticket.status in TRANSITIONS[action][0]
    ]
    if ticket.status in OPEN_STATUSES:
        actions.append("recategorise")
    return [a for a in actions if a not in LEADERS_ONLY or me.may_reassign]
