"""The ticket board (filters, most urgent first) and one ticket's whole story."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, request
from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Load, Session, selectinload

from bot.console.pages import Staff, console, page, span, staff
from bot.console.scope import Scope, visible_grids
from bot.console.search import cleaned, matches
from handlers.texts import CATEGORY_LABELS, ROLE_LABELS, STATUS_LABELS
from handlers.tickets.core import OPEN_STATUSES, SIGNED, UNSIGNED
from handlers.tickets.ladder import RUNG_NAMES
from handlers.tickets.lifecycle import ACTION_LABELS, TRANSITIONS, may_act
from storage.db import transaction
from storage.models import Grid, InboundMessage, OutboxMessage, Resident, Ticket, TicketEvent, Worker

# Tickets on one page of the board; the rest are on the next pages.
PAGE_SIZE = 50
# Row ids are 32-bit integers on PostgreSQL.
MAX_ROW_ID = 2**31 - 1
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2}
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
    """Add the board and ticket routes."""
    blueprint.add_url_rule("/", "board", board)
    blueprint.add_url_rule("/tickets", "tickets", board)
    blueprint.add_url_rule("/tickets/<int:ticket_id>", "ticket", ticket_page)


# The board


@dataclass(frozen=True)
class Filters:
    """What the board shows: grid code, status ('open', 'all' or one status), category, overdue only,
    a search (bot/console/search.py) and the page."""

    grid: str
    status: str
    category: str
    overdue: bool
    query: str = ""
    page: int = 1

    @classmethod
    def from_request(cls) -> Filters:
        """Read the filters from the query string, ignoring unknown values."""
        args = request.args
        status = args.get("status", "open")
        category = args.get("category", "")
        return cls(
            grid=args.get("grid", ""),
            status=status if status in ("open", "all", *STATUS_LABELS) else "open",
            category=category if category in CATEGORY_LABELS else "",
            overdue=args.get("overdue") == "1",
            query=cleaned(args.get("q", "")),
            page=_page_number(args.get("page", "")),
        )

    def link(self, page: int) -> dict[str, str | int]:
        """The query string of this board at another page (what is left empty is left out)."""
        given = {"grid": self.grid, "status": self.status, "category": self.category, "q": self.query}
        kept: dict[str, str | int] = {key: value for key, value in given.items() if value}
        if self.overdue:
            kept["overdue"] = 1
        return kept | {"page": page}


def _page_number(text: str) -> int:
    """The page asked for, from 1; anything else (not a number, absurdly large) is the first page."""
    return int(text) if text.isdecimal() and 0 < len(text) <= 6 and int(text) > 0 else 1


@dataclass(frozen=True)
class Card:
    """One ticket on the board."""

    ticket: Ticket
    overdue: bool
    due_label: str
    due_at: datetime | None
    # '已超时2小时' or '还剩40分钟'; empty for finished tickets.
    left: str


def board() -> str:
    """Tickets in the person's grids, filtered, overdue and emergencies first."""
    me, app = staff(), console()
    filters = Filters.from_request()
    now = app.clock()
    with transaction(app.factory) as session:
        grids = visible_grids(session, me.scope)
        query = _board_query(me.scope, filters, grids, now)
        found = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        pages = max(1, -(-found // PAGE_SIZE))
        shown = query.order_by(*_urgency(now)).offset((min(filters.page, pages) - 1) * PAGE_SIZE)
        tickets = list(session.scalars(shown.limit(PAGE_SIZE).options(*_board_loads())))
        cards = [_card(ticket, now) for ticket in tickets]
        counts = _counts(session, me.scope, now)
        return page(
            "board.html",
            cards=cards,
            filters=filters,
            grids=grids,
            statuses=STATUS_LABELS,
            categories=CATEGORY_LABELS,
            counts=counts,
            found=found,
            pages=pages,
            page_number=min(filters.page, pages),
        )


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """Open and past the deadline that applies now: signing for it, or resolving it."""
    return or_(
        and_(Ticket.status.in_(UNSIGNED), Ticket.ack_due_at <= now),
        and_(Ticket.status.in_(SIGNED), Ticket.resolve_due_at <= now),
    )


def _board_query(scope: Scope, filters: Filters, grids: list[Grid], now: datetime) -> Select[tuple[Ticket]]:
    overdue = overdue_condition(now)
    query = select(Ticket).where(scope.tickets())
    if filters.grid:
        grid_ids = [grid.id for grid in grids if grid.code == filters.grid]
        query = query.where(Ticket.grid_id.in_(grid_ids))
    if filters.status == "open":
        query = query.where(Ticket.status.in_(OPEN_STATUSES))
    elif filters.status != "all":
        query = query.where(Ticket.status == filters.status)
    if filters.category:
        query = query.where(Ticket.category == filters.category)
    if filters.overdue:
        query = query.where(overdue)
    if filters.query:
        query = query.where(matches(filters.query))
    return query


def _urgency(now: datetime) -> tuple[ColumnElement, ...]:
    """Overdue first, then emergencies, priority, open before finished, the nearest deadline, newest."""
    return (
        case((overdue_condition(now), 0), else_=1),
        case((Ticket.category == "emergency", 0), else_=1),
        case(*((Ticket.priority == key, rank) for key, rank in PRIORITY_RANK.items()), else_=3),
        case((Ticket.status.in_(OPEN_STATUSES), 0), else_=1),
        case((Ticket.acknowledged_at.is_(None), Ticket.ack_due_at), else_=Ticket.resolve_due_at),
        Ticket.id.desc(),
    )


def _board_loads() -> tuple[Load, ...]:
    """What each card shows beside the ticket, loaded with it."""
    return (
        selectinload(Ticket.resident).selectinload(Resident.building),
        selectinload(Ticket.grid),
        selectinload(Ticket.assignee),
    )


def _card(ticket: Ticket, now: datetime) -> Card:
    if ticket.status in UNSIGNED:
        label, due = "签收期限", ticket.ack_due_at
    elif ticket.status in SIGNED:
        label, due = "办结期限", ticket.resolve_due_at
    else:
        return Card(ticket, False, "", None, "")
    overdue = due <= now
    left = f"已超时{span(now - due)}" if overdue else f"还剩{span(due - now)}"
    return Card(ticket, overdue, label, due, left)


def _counts(session: Session, scope: Scope, now: datetime) -> dict[str, int]:
    """Open and overdue tickets in scope, for the board's heading."""
    open_query = select(Ticket.id).where(scope.tickets(), Ticket.status.in_(OPEN_STATUSES))
    overdue_query = open_query.where(overdue_condition(now))
    return {
        "open": len(session.scalars(open_query).all()),
        "overdue": len(session.scalars(overdue_query).all()),
    }


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
        messages = session.scalars(
            select(InboundMessage)
            .where(InboundMessage.ticket_id == ticket.id)
            .order_by(InboundMessage.received_at, InboundMessage.id)
        ).all()
        pushes = session.scalars(
            select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id).order_by(OutboxMessage.id)
        ).all()
        events = [_described(event) for event in ticket.events]
        return page(
            "ticket.html",
            ticket=ticket,
            card=_card(ticket, now),
            messages=messages,
            events=events,
            escalations=[e for e in events if e.kind in ESCALATION_EVENTS],
            told_resident=_told_resident(ticket, messages, pushes),
            staff_pushes=[p for p in pushes if p.worker_id is not None],
            actions=_available_actions(ticket, me),
            may_act=worker is not None and may_act(worker, ticket),
            colleagues=_colleagues(session, me),
            rung=RUNG_NAMES[ticket.escalation_level] if ticket.escalation_level < len(RUNG_NAMES) else "",
            labels={"status": STATUS_LABELS, "category": CATEGORY_LABELS},
            categories=[
                label for key, label in CATEGORY_LABELS.items() if key not in ("knock", ticket.category)
            ],
            roles=ROLE_LABELS,
            max_extension=app.settings.escalation.max_extension_hours,
        )


@dataclass(frozen=True)
class Notice:
    """Something the resident was told about the ticket: a push, or the reply to their own message."""

    created_at: datetime
    state: str
    text: str


PUSH_STATES = {"sent": "已送达", "pending": "待发送"}


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


def _colleagues(session: Session, me: Staff) -> list[Worker]:
    """People a ticket can be reassigned to."""
    if not me.may_reassign:
        return []
    query = select(Worker).where(Worker.id != me.worker_id, Worker.left_at.is_(None))
    query = query.order_by(Worker.role, Worker.name)
    return list(session.scalars(query))
