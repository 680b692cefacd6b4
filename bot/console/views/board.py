"""The ticket board: filters, search and sort kept in the URL, most urgent first, a page at a time.

The same tickets show as cards (a phone) and as a table with sortable columns and bulk actions (a
desktop); the stylesheet picks one by the screen's width.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from flask import Blueprint, request
from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Load, Session, aliased, selectinload

from bot.console.pages import colleagues, console, page, span, staff
from bot.console.scope import Scope, visible_grids
from bot.console.search import cleaned, matches
from bot.console.views.notices import notices_in_scope
from handlers.notices.writing import KINDS as NOTICE_KINDS
from handlers.texts import CATEGORY_LABELS, ROLE_LABELS, STATUS_LABELS
from handlers.tickets.core import OPEN_STATUSES, SIGNED, UNSIGNED
from storage.db import transaction
from storage.models import Building, Grid, Resident, Ticket, Worker

# Tickets on one page of the board; the rest are on the next pages.
PAGE_SIZE = 50
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2}
# The board reloads itself this often (a meta refresh: the console runs no script), counting new tickets.
REFRESH_SECONDS = 60
# The table's sortable columns and their headings; the URL's `sort` is one of them ('-' first: descending).
SORT_COLUMNS = {
    "number": "工单号",
    "category": "类别",
    "building": "楼栋",
    "status": "状态",
    "assignee": "负责人",
    "due": "期限",
    "opened": "提交时间",
}


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
    # A column of SORT_COLUMNS, '-' first for descending; empty: most urgent first.
    sort: str = ""
    # No reload every minute (live=0): a leader ticking rows for a bulk action keeps the ticks.
    paused: bool = False

    @classmethod
    def from_request(cls) -> Filters:
        """Read the filters from the query string, ignoring unknown values."""
        args = request.args
        status = args.get("status", "open")
        category = args.get("category", "")
        sort = args.get("sort", "")
        return cls(
            grid=args.get("grid", ""),
            status=status if status in ("open", "all", *STATUS_LABELS) else "open",
            category=category if category in CATEGORY_LABELS else "",
            overdue=args.get("overdue") == "1",
            query=cleaned(args.get("q", "")),
            page=_whole_number(args.get("page", "")) or 1,
            seen=_whole_number(args.get("seen", "")),
            sort=sort if sort.removeprefix("-") in SORT_COLUMNS else "",
            paused=args.get("live") == "0",
        )

    def link(self, page: int, seen: int | None = None) -> dict[str, str | int]:
        """The query string of this board at another page (what is left empty is left out)."""
        given = {
            "grid": self.grid,
            "status": self.status,
            "category": self.category,
            "q": self.query,
            "sort": self.sort,
        }
        kept: dict[str, str | int] = {key: value for key, value in given.items() if value}
        if self.overdue:
            kept["overdue"] = 1
        if self.paused:
            kept["live"] = 0
        return kept | {"page": page} | ({"seen": seen} if seen is not None else {})

    def sorted_by(self, column: str) -> dict[str, str | int]:
        """The query string of this board sorted by a column: ascending first, then the other way."""
        sort = f"-{column}" if self.sort == column else column
        return replace(self, sort=sort).link(1)

    def direction(self, column: str) -> str:
        """'ascending', 'descending' or 'none': how the table is sorted by this column (aria-sort)."""
        if self.sort == column:
            return "ascending"
        return "descending" if self.sort == f"-{column}" else "none"


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
        shown = _sorted(query, filters.sort, now).offset((min(filters.page, pages) - 1) * PAGE_SIZE)
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
            # Pausing keeps the count of new tickets for a reload by hand.
            toggle=replace(filters, paused=not filters.paused).link(min(filters.page, pages), seen=seen),
            columns=SORT_COLUMNS,
            colleagues=colleagues(session, me),
            roles=ROLE_LABELS,
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


def _sorted(query: Select[tuple[Ticket]], sort: str, now: datetime) -> Select[tuple[Ticket]]:
    """The board in the order asked for (the database sorts); ties and the default: most urgent first."""
    column = sort.removeprefix("-")
    if column not in SORT_COLUMNS:
        return query.order_by(*_urgency(now))
    # Aliases: the search's subqueries on residents and buildings must not correlate with these joins.
    building, holder = aliased(Building), aliased(Worker)
    if column == "building":
        resident = aliased(Resident)
        query = query.outerjoin(resident, resident.id == Ticket.resident_id)
        query = query.outerjoin(building, building.id == resident.building_id)
    if column == "assignee":
        query = query.outerjoin(holder, holder.id == Ticket.assignee_id)
    missing, keys = _sort_keys(column, building, holder)
    ordered = [key.desc() if sort.startswith("-") else key.asc() for key in keys]
    # What has no value (no building, nobody holds it, finished) goes last either way.
    return query.order_by(*missing, *ordered, *_urgency(now))


def _sort_keys(
    column: str, building: type[Building], holder: type[Worker]
) -> tuple[list[ColumnElement], list[ColumnElement]]:
    """Ordering for one column: the 'has no value' keys first, then the keys the direction applies to."""
    if column == "number":
        return [], [Ticket.id]
    if column == "category":
        return [], [_rank(Ticket.category, CATEGORY_LABELS)]
    if column == "status":
        return [], [_rank(Ticket.status, STATUS_LABELS)]
    if column == "building":
        # '3号楼' before '10号楼': shorter names first, then by the characters.
        return [case((building.id.is_(None), 1), else_=0)], [func.length(building.name), building.name]
    if column == "assignee":
        return [case((holder.id.is_(None), 1), else_=0)], [holder.name]
    if column == "due":
        due = case(
            (Ticket.status.in_(UNSIGNED), Ticket.ack_due_at),
            (Ticket.status.in_(SIGNED), Ticket.resolve_due_at),
        )
        return [case((due.is_(None), 1), else_=0)], [due]
    return [], [Ticket.created_at]


def _rank(column: ColumnElement[str], labels: dict[str, str]) -> ColumnElement[int]:
    """A code's place in its list of labels (the order staff know them in), unknown codes last."""
    return case(*((column == key, rank) for rank, key in enumerate(labels)), else_=len(labels))


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
