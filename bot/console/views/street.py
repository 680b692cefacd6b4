"""The street office's section of the first community's console: every community at once (docs/tenancy.md).

Only the first community's app has it (bot/street.py registers the communities), and only staff with the
role "street" see it; for anyone else, and in every other community's console, it is not found. Each
community's rows are read through that community's own database, read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, abort, current_app, g, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.wrappers import Response

from bot.console.pages import console, page, span
from bot.console.scope import Scope
from bot.console.views.board import (
    PAGE_SIZE,
    PRIORITY_RANK,
    SORT_COLUMNS,
    Card,
    Filters,
    _board_loads,
    _board_query,
    _counts,
    _sorted,
    card_of,
)
from bot.console.views.media import saved_media, sent_media
from bot.console.views.tickets import MAX_ROW_ID, story
from config.settings import Settings
from handlers.domain_settings import DomainSettings
from handlers.jobs.reports import local_today
from handlers.jobs.reports.periods import local_midnight
from handlers.texts import CATEGORY_LABELS, STATUS_LABELS
from handlers.tickets.core import OPEN_STATUSES, UNSIGNED
from storage.db import snapshot
from storage.models import Ticket
from storage.repositories import street

STREET = "griddesk.street"
STREET_NOT_SERVED = "griddesk.street.not_served"
# The overview's average time to first response looks this far back.
RESPONSE_WINDOW = timedelta(days=30)
# A street office sees every ticket of every community, as a community office sees its own.
EVERYTHING = Scope(0, None)
NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Community:
    """What the street's pages read of one community: its name, settings and database."""

    slug: str
    name: str
    settings: Settings
    factory: sessionmaker[Session]
    domain: DomainSettings

    @property
    def console_path(self) -> str:
        """Where the community's own console is: /console for the first, /c/<slug>/console for others."""
        return f"{self.settings.mount}/console"


def register_street_views(
    app: Flask, communities: Mapping[str, Community], not_served: Mapping[str, Any] | None = None
) -> None:
    """Give the first community's console the street section over these communities (in this order).

    `not_served`: registered communities this process does not serve (their settings failed the checks),
    by slug, each with a `name`; the overview lists them. Called again when the register grows.
    """
    app.extensions[STREET_NOT_SERVED] = dict(not_served or {})
    app.extensions[STREET] = dict(communities)


def register(blueprint: Blueprint) -> None:
    """Add the street's routes (they answer only where register_street_views gave the communities)."""
    blueprint.add_url_rule("/street", "street", overview)
    blueprint.add_url_rule("/street/tickets", "street_tickets", street_tickets)
    blueprint.add_url_rule("/street/<slug>/tickets/<int:ticket_id>", "street_ticket", street_ticket)
    blueprint.add_url_rule("/street/<slug>/media/<int:message_id>", "street_media", street_media)
    blueprint.app_template_global("street_desk")(street_desk)


def street_desk() -> bool:
    """True when the signed-in person is the street office's and this console has the street section."""
    me = g.get("staff")
    return me is not None and me.role == "street" and STREET in current_app.extensions


def communities() -> dict[str, Community]:
    """The street's communities; not found for anyone but the street office, and outside the first
    community's console."""
    if not street_desk():
        abort(404)
    return current_app.extensions[STREET]


def community(slug: str) -> Community:
    """One community of the street by its slug; not found if there is none."""
    found = communities().get(slug)
    if found is None:
        abort(404)
    return found


# The overview: one row per community


@dataclass(frozen=True)
class Overview:
    """One community's figures right now."""

    community: Community
    open: int
    overdue: int
    new_today: int
    late_unsigned: int
    missed_checkins: int
    # How long each ticket opened in the last RESPONSE_WINDOW waited to be signed for.
    waits: tuple[timedelta, ...]

    @property
    def first_response(self) -> str:
        """The average wait, as staff say it ('25分钟'); '—' when no ticket was signed for."""
        return _average(self.waits)


def overview() -> str:
    """Every community's open, overdue and new tickets, late signing, missed check-ins, response time."""
    now = console().clock()
    rows = [_overview_of(place, now) for place in communities().values()]
    totals = {
        name: sum(getattr(row, name) for row in rows)
        for name in ("open", "overdue", "new_today", "late_unsigned", "missed_checkins")
    }
    waits = tuple(wait for row in rows for wait in row.waits)
    not_served = [refusal.name for refusal in current_app.extensions.get(STREET_NOT_SERVED, {}).values()]
    return page(
        "street.html", rows=rows, totals=totals, first_response=_average(waits), not_served=not_served
    )


def _overview_of(place: Community, now: datetime) -> Overview:
    timezone = place.settings.timezone
    today = local_today(now, timezone)
    with snapshot(place.factory) as session:
        counts = _counts(session, EVERYTHING, now)
        responses = street.first_responses(session, now - RESPONSE_WINDOW)
        return Overview(
            community=place,
            open=counts["open"],
            overdue=counts["overdue"],
            new_today=street.opened_since(session, local_midnight(today, timezone)),
            late_unsigned=street.late_unsigned(session, UNSIGNED, now),
            missed_checkins=street.missed_checkins(session, today),
            waits=tuple(signed - opened for opened, signed in responses),
        )


def _average(waits: tuple[timedelta, ...]) -> str:
    return span(sum(waits, timedelta()) / len(waits)) if waits else "—"


# Every community's tickets in one table


@dataclass(frozen=True)
class StreetFilters:
    """The board's filters (bot/console/views/board.py) and the community ('' for every one)."""

    board: Filters
    community: str

    def link(self, page: int) -> dict[str, str | int]:
        """The query string of this table at another page."""
        return self.board.link(page) | ({"community": self.community} if self.community else {})

    def sorted_by(self, column: str) -> dict[str, str | int]:
        """The query string sorted by a column: ascending first, then the other way."""
        sort = f"-{column}" if self.board.sort == column else column
        return replace(self, board=replace(self.board, sort=sort)).link(1)

    def direction(self, column: str) -> str:
        """How the table is sorted by this column (aria-sort)."""
        return self.board.direction(column)


@dataclass(frozen=True)
class Row:
    """One ticket of the table, with its community."""

    community: Community
    card: Card


# Sortable columns whose values are names (text), ordered by each database's collation.
NAMED_COLUMNS = ("building", "assignee")


def street_tickets() -> str:
    """Every community's tickets, filtered and searched as on a community's board, a page at a time."""
    places = communities()
    chosen = request.args.get("community", "")
    # Grid codes are each community's own: the street filters by community instead.
    filters = StreetFilters(replace(Filters.from_request(), grid=""), chosen if chosen in places else "")
    shown = [place for place in places.values() if filters.community in ("", place.slug)]
    now = console().clock()
    with ExitStack() as stack:
        query = _board_query(EVERYTHING, filters.board, [], now)
        sessions = [(place, stack.enter_context(snapshot(place.factory))) for place in shown]
        found = sum(
            session.scalar(select(func.count()).select_from(query.subquery())) or 0
            for _, session in sessions
        )
        pages = max(1, -(-found // PAGE_SIZE))
        number = min(filters.board.page, pages)
        rows: list[Row] = []
        # The first `number` pages of each community hold every row of the merged page `number`, unless
        # names decide the order: a database's collation may order them otherwise than Python, so then
        # every row of each community is merged here.
        by_name = filters.board.sort.removeprefix("-") in NAMED_COLUMNS
        limit = None if by_name else number * PAGE_SIZE
        wanted = _sorted(query, filters.board.sort, now).limit(limit).options(*_board_loads())
        for place, session in sessions:
            rows += [Row(place, card_of(ticket, now)) for ticket in session.scalars(wanted)]
        rows = _merged(rows, filters.board.sort, now)[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
        return page(
            "street_tickets.html",
            rows=rows,
            filters=filters,
            places=places,
            statuses=STATUS_LABELS,
            categories=CATEGORY_LABELS,
            columns=SORT_COLUMNS,
            found=found,
            pages=pages,
            page_number=number,
        )


def _merged(rows: list[Row], sort: str, now: datetime) -> list[Row]:
    """The communities' rows in one order, the board's: most urgent first, or by the column asked for
    (what has no value last either way)."""
    rows = sorted(rows, key=lambda row: _urgency(row.card, now))
    column = sort.removeprefix("-")
    if column not in SORT_COLUMNS:
        return rows
    keyed = [(row, _column_value(row.card, column)) for row in rows]
    present = sorted(
        ((row, key) for row, key in keyed if key is not None),
        key=lambda pair: pair[1],
        reverse=sort.startswith("-"),
    )
    return [row for row, _ in present] + [row for row, key in keyed if key is None]


def _urgency(card: Card, now: datetime) -> tuple[Any, ...]:
    """The board's default order (board._urgency) for one loaded ticket."""
    t = card.ticket
    due = t.ack_due_at if t.acknowledged_at is None else t.resolve_due_at
    return (
        not card.overdue,
        t.category != "emergency",
        PRIORITY_RANK.get(t.priority, len(PRIORITY_RANK)),
        t.status not in OPEN_STATUSES,
        due or NEVER,
        -t.id,
    )


def _column_value(card: Card, column: str) -> Any:
    """A loaded ticket's value in a sortable column (board._sort_keys); None for no value."""
    t = card.ticket
    building = t.resident.building if t.resident is not None else None
    values = {
        "number": t.id,
        "category": _rank(t.category, CATEGORY_LABELS),
        "status": _rank(t.status, STATUS_LABELS),
        "building": (len(building.name), building.name) if building is not None else None,
        "assignee": t.assignee.name if t.assignee is not None else None,
        "due": card.due_at,
        "opened": t.created_at,
    }
    return values[column]


def _rank(code: str, labels: dict[str, str]) -> int:
    return list(labels).index(code) if code in labels else len(labels)


# One ticket, read-only


def street_ticket(slug: str, ticket_id: int) -> str:
    """A community's ticket as its console shows it to a leader, without the buttons."""
    place = community(slug)
    if not 0 < ticket_id <= MAX_ROW_ID:
        abort(404)
    with snapshot(place.factory) as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            abort(404)
        return render_template(
            "console/ticket.html",
            me=g.staff,
            community=place.name,
            **story(session, ticket, console().clock()),
            actions=[],
            street_slug=slug,
            back=url_for("console.street_tickets"),
        )


def street_media(slug: str, message_id: int) -> Response:
    """A photo or voice of a community's ticket, from that community's own media folder."""
    place = community(slug)
    with snapshot(place.factory) as session:
        message = saved_media(session, message_id)
        stored, msg_type = message.media_path, message.msg_type
    return sent_media(stored, msg_type, place.settings.delivery.media_dir)
