"""The ticket board: filters and search kept in the URL, most urgent first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, request
from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Load, Session, selectinload

from bot.console.pages import console, page, span, staff
from bot.console.scope import Scope, visible_grids
from bot.console.search import cleaned, matches
from bot.console.views.notices import notices_in_scope
from handlers.notices.writing import KINDS as NOTICE_KINDS
from handlers.texts import CATEGORY_LABELS, STATUS_LABELS
from handlers.tickets.core import OPEN_STATUSES, SIGNED, UNSIGNED
from storage.db import transaction
from storage.models import Grid, Resident, Ticket

# Tickets on one page of the board; the rest are on the next pages.
PAGE_SIZE = 50
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2}
# The board reloads itself this often (a meta refresh: the console runs no script), counting new tickets.
REFRESH_SECONDS = 60


def register(blueprint: Blueprint) -> None:
    """Add the board's routes."""
    blueprint.add_url_rule("/", "board", board)
    blueprint.add_url_rule("/tickets", "tickets", board)



@dataclass(frozen=True)
class Filters:
    """What the board shows: grid code, status ('open', 'all' or one status), category, overdue only,
    a search (bot/console/search.py), the page, and the newest ticket already seen (for the new count)."""

    grid: str
    status: str
    category: str
    overdue: bool
    query: str = ""
    page: int = 1
    seen: int | None = None

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
            page=_whole_number(args.get("page", "")) or 1,
            seen=_whole_number(args.get("seen", "")),
        )

    def link(self, page: int, seen: int | None = None) -> dict[str, str | int]:
        """The query string of this board at another page (what is left empty is left out)."""
        given = {"grid": self.grid, "status": self.status, "category": self.category, "q": self.query}
        kept: dict[str, str | int] = {key: value for key, value in given.items() if value}
        if self.overdue:
            kept["overdue"] = 1
        return kept | {"page": page} | ({"seen": seen} if seen is not None else {})


def _whole_number(text: str) -> int | None:
    """A page or ticket number from the query string; None for anything else (not a number, too large)."""
    return int(text) if text.isdecimal() and 0 < len(text) <= 10 and int(text) > 0 else None


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
        cards = [card_of(ticket, now) for ticket in tickets]
        counts = _counts(session, me.scope, now)
        newest = session.scalar(select(func.max(Ticket.id)).where(me.scope.tickets())) or 0
        seen = filters.seen if filters.seen is not None else newest
        fresh = session.scalar(select(func.count()).where(me.scope.tickets(), Ticket.id > seen)) or 0
        in_force = [n for n in notices_in_scope(session, me.scope, now) if n.starts_at <= now]
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
            fresh=fresh,
            refresh=(REFRESH_SECONDS, filters.link(min(filters.page, pages), seen=seen)),
            notices=in_force,
            notice_kinds=NOTICE_KINDS,
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


def card_of(ticket: Ticket, now: datetime) -> Card:
    """The ticket's deadline that applies now, and the time left or overdue."""
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
