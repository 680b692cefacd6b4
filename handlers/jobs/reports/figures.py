"""The figures of one report, each from one aggregate query (definitions: docs/reports.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Exists, and_, exists, not_
from sqlalchemy.orm import Session

from handlers.domain_settings import DomainSettings
from handlers.jobs.escalation import EXHAUSTED, SYSTEM
from handlers.jobs.reports.households import checkin_counts, visit_counts, visits_recorded
from handlers.jobs.reports.periods import Period, local_midnight
from handlers.jobs.reports.scopes import Scope
from handlers.texts import CATEGORY_LABELS
from handlers.tickets.core import OPEN_STATUSES, UNSIGNED
from storage.models import Ticket, TicketEvent
from storage.repositories import reports

FINISHED = ("resolved", "closed")
# Signing for a ticket, or working on it, which implies signing (handlers/tickets/lifecycle.py), by a person.
SIGNING_EVENTS = ("acknowledge", "progress", "resolve")
# The deadline sweep (handlers/jobs/escalation/) writes these within a minute of a missed deadline, so a
# ticket stays late even after a hand-over or a reopening gave it a fresh deadline.
MISSED_ACK_EVENTS = ("escalate", "repaged", EXHAUSTED, "emergency_repage")
MISSED_RESOLVE_EVENTS = ("overdue_paged",)
# handlers/messages/resident_commands.py: a rating of 1 (满意) or 2 (基本满意) closes the ticket as this
# actor, a 3 (不满意) reopens it; only the audit trail keeps the unsatisfied ones.
RESIDENT = "居民"
SATISFIED_EVENT, UNSATISFIED_EVENT = "close", "reopen"


@dataclass(frozen=True)
class CategoryFigures:
    """Tickets of one category opened and resolved in the period."""

    category: str
    label: str
    opened: int
    resolved: int


@dataclass(frozen=True)
class DayFigures:
    """Tickets opened on one local day of the period, per category (every category, zeros included)."""

    day: date
    opened: dict[str, int]

    @property
    def total(self) -> int:
        """Tickets opened that day, all categories."""
        return sum(self.opened.values())


@dataclass(frozen=True)
class Report:
    """What happened in one scope over one period; rates are in [0, 1], None when nothing to rate."""

    scope: Scope
    period: Period
    generated_at: datetime
    by_category: list[CategoryFigures]
    opened: int
    resolved: int
    acknowledged_in_time: int
    response_rate: float | None
    resolved_in_time: int
    resolution_rate: float | None
    rated: int
    satisfied: int
    satisfaction_rate: float | None
    overdue_now: int
    checkins_pinged: int
    checkins_answered: int
    checkin_answer_rate: float | None
    knock_tasks: int
    visits_done: int
    visits_due: int
    visits_rate: float | None
    # Opened in the period and since cancelled (left out of every rate).
    cancelled: int
    # The denominators of response_rate and resolution_rate: opened tickets that can be judged yet.
    ack_judged: int
    resolve_judged: int
    # Every home visit logged in the period, early ones and repeat visits included.
    visits_recorded: int
    # settings.timezone, which the period's days and generated_at are read in.
    timezone: str
    # Tickets opened on each local day of the period, for the console's charts.
    by_day: tuple[DayFigures, ...] = ()

    @property
    def zero(self) -> bool:
        """Nothing to report about tickets: none opened, resolved, rated, or overdue now (零报告)."""
        return not (self.opened or self.resolved or self.rated or self.overdue_now)


@dataclass(frozen=True)
class _Window:
    scope: Scope
    start: datetime
    end: datetime
    now: datetime


def build_report(
    session: Session, settings: DomainSettings, scope: Scope, period: Period, now: datetime
) -> Report:
    """Count a period's tickets, ratings, check-ins and visits in one scope, as of `now`."""
    start, end = period.bounds(settings.timezone)
    window = _Window(scope, start, end, now)
    days = _days(period, settings.timezone)
    tickets = _ticket_counts(session, window, days)
    totals = {name: sum(row[name] for row in tickets.values()) for name in _TICKET_COUNTS}
    rated, satisfied = _ratings(session, window)
    pinged, answered = checkin_counts(session, scope, period)
    due, done = visit_counts(session, settings.visits, scope, start, end)
    return Report(
        scope=scope,
        period=period,
        generated_at=now,
        by_category=_by_category(tickets),
        opened=totals["opened"],
        resolved=totals["resolved"],
        acknowledged_in_time=totals["ack_in_time"],
        response_rate=_rate(totals["ack_in_time"], totals["ack_judged"]),
        resolved_in_time=totals["resolved_in_time"],
        resolution_rate=_rate(totals["resolved_in_time"], totals["resolve_judged"]),
        rated=rated,
        satisfied=satisfied,
        satisfaction_rate=_rate(satisfied, rated),
        overdue_now=_overdue(session, scope, now),
        checkins_pinged=pinged,
        checkins_answered=answered,
        checkin_answer_rate=_rate(answered, pinged),
        knock_tasks=tickets.get("knock", {}).get("opened", 0),
        visits_done=done,
        visits_due=due,
        visits_rate=_rate(done, due),
        cancelled=totals["cancelled"],
        ack_judged=totals["ack_judged"],
        resolve_judged=totals["resolve_judged"],
        visits_recorded=visits_recorded(session, scope, start, end),
        timezone=settings.timezone,
        by_day=_by_day(tickets, days),
    )


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# Tickets: opened in the period (a cohort judged as of now), and resolved in the period (a flow)


def _ticket_conditions(window: _Window) -> dict[str, ColumnElement[bool]]:
    """Each count of the ticket query, as a condition on one ticket row."""
    created = and_(Ticket.created_at >= window.start, Ticket.created_at < window.end)
    live = and_(created, Ticket.status != "cancelled")
    finished = Ticket.status.in_(FINISHED)
    signed = _in_trail(SIGNING_EVENTS, Ticket.id, people_only=True)
    missed_ack = _in_trail(MISSED_ACK_EVENTS, Ticket.id)
    late_ack = missed_ack | and_(
        Ticket.acknowledged_at.is_not(None), Ticket.acknowledged_at > Ticket.ack_due_at
    )
    # Finished with nobody signing (a 敲门 task the elder called off): there was nothing to respond to.
    ack_moot = and_(not_(signed), finished)
    ack_pending = and_(
        not_(signed), Ticket.status.in_(OPEN_STATUSES), Ticket.ack_due_at > window.now, not_(missed_ack)
    )
    resolve_pending = and_(Ticket.status.in_(OPEN_STATUSES), Ticket.resolve_due_at > window.now)
    return {
        "opened": created,
        "cancelled": and_(created, Ticket.status == "cancelled"),
        "ack_in_time": and_(live, signed, not_(late_ack)),
        "ack_judged": and_(live, not_(ack_moot), not_(ack_pending)),
        "resolved_in_time": and_(
            live,
            finished,
            Ticket.resolved_at <= Ticket.resolve_due_at,
            not_(_in_trail(MISSED_RESOLVE_EVENTS, Ticket.id)),
        ),
        "resolve_judged": and_(live, not_(resolve_pending)),
        "resolved": and_(finished, Ticket.resolved_at >= window.start, Ticket.resolved_at < window.end),
    }


def _in_trail(kinds: tuple[str, ...], ticket_id: ColumnElement[int], people_only: bool = False) -> Exists:
    """The ticket's audit trail has one of these events (by a person, not the system, if people_only)."""
    found = exists().where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind.in_(kinds))
    return found.where(TicketEvent.actor != SYSTEM) if people_only else found


_TICKET_COUNTS = (
    "opened",
    "cancelled",
    "ack_in_time",
    "ack_judged",
    "resolved_in_time",
    "resolve_judged",
    "resolved",
)


def _days(period: Period, timezone: str) -> dict[str, tuple[date, datetime, datetime]]:
    """Each local day of the period by its count name, with its bounds in UTC."""
    days = {}
    day = period.start
    while day < period.end:
        following = day + timedelta(days=1)
        days[f"opened_day_{len(days)}"] = (
            day,
            local_midnight(day, timezone),
            local_midnight(following, timezone),
        )
        day = following
    return days


def _ticket_counts(
    session: Session, window: _Window, days: dict[str, tuple[date, datetime, datetime]]
) -> dict[str, dict[str, int]]:
    """Per category: every count of _ticket_conditions and the opened per day, from one GROUP BY."""
    conditions = _ticket_conditions(window)
    counts = {name: conditions[name] for name in _TICKET_COUNTS}
    # The day counts ride on the same query, so the daily chart costs no query of its own.
    counts |= {
        name: and_(Ticket.created_at >= start, Ticket.created_at < end)
        for name, (_, start, end) in days.items()
    }
    within = conditions["opened"] | conditions["resolved"]
    return reports.ticket_counts(session, window.scope, counts, within)


def _by_category(tickets: dict[str, dict[str, int]]) -> list[CategoryFigures]:
    """Every category in the usual order (zeros included, so charts keep their shape), then any unknown."""
    names = list(CATEGORY_LABELS) + sorted(set(tickets) - set(CATEGORY_LABELS))
    return [
        CategoryFigures(
            name,
            CATEGORY_LABELS.get(name, name),
            tickets.get(name, {}).get("opened", 0),
            tickets.get(name, {}).get("resolved", 0),
        )
        for name in names
    ]


def _by_day(
    tickets: dict[str, dict[str, int]], days: dict[str, tuple[date, datetime, datetime]]
) -> tuple[DayFigures, ...]:
    """Opened per local day and category, every category in the order of by_category."""
    names = [c.category for c in _by_category(tickets)]
    return tuple(
        DayFigures(day, {c: tickets.get(c, {}).get(name, 0) for c in names})
        for name, (day, _, _) in days.items()
    )


def _overdue(session: Session, scope: Scope, now: datetime) -> int:
    """Open tickets past a deadline right now: past the resolve one, or unsigned past the sign-for one."""
    return reports.overdue_count(session, scope, OPEN_STATUSES, UNSIGNED, now)


def _ratings(session: Session, window: _Window) -> tuple[int, int]:
    """(ratings given in the period, of which satisfied or basically satisfied)."""
    return reports.ratings(
        session, window.scope, RESIDENT, SATISFIED_EVENT, UNSATISFIED_EVENT, window.start, window.end
    )
