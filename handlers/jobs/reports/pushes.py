"""Scheduled reports: each grid leader's 日报 for each of their grids, the community office's 周报 and 月报.

The job runs every minute and sends the latest report due of each kind that a person has not had yet.
As with the visit digests, the outbox is the record of what was sent: a report counts as sent to a
person when an outbox row of its kind for them, made after the period ended, starts with the report's
header. Reports are built without the write lock; the last check and the pushes then share a short
transaction, which one process at a time gets (SQLite's BEGIN IMMEDIATE, a transaction-level advisory
lock on PostgreSQL), so neither a second scheduler nor a restart sends a report twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from handlers.domain_settings import DomainSettings
from handlers.jobs.reports.figures import Report, build_report
from handlers.jobs.reports.periods import Period, latest_due
from handlers.jobs.reports.render import report_header, report_link, report_text
from handlers.jobs.reports.scopes import Scope, grid_scopes, scope_for_community
from handlers.tickets.core import community_desk
from handlers.tickets.tally import Tally
from storage.db import bulk_slice, snapshot
from storage.models import Worker
from storage.outbox import queue_push
from storage.repositories import reports

PUSH_KINDS = {"day": "report_daily", "week": "report_weekly", "month": "report_monthly"}
# Reports pushed per transaction: a big register has a daily report for each of thousands of grids.
PUSHES_PER_SLICE = 200
# Any constant unique to this job: PostgreSQL serialises the pushing transactions on it.
PUSH_LOCK_KEY = 0x52455054  # "REPT"


@dataclass
class ReportPushes(Tally):
    """How many reports one run pushed, by kind."""

    daily: int = 0
    weekly: int = 0
    monthly: int = 0


def push_reports(factory: sessionmaker[Session], settings: DomainSettings, now: datetime) -> ReportPushes:
    """Queue every report that is due and not yet sent to its reader; safe to run any number of times."""
    result = ReportPushes()
    # Building a report reads a whole period's tickets and check-ins (a month of a big register's
    # check-ins is millions of rows): done without the write lock, then pushed in short transactions.
    with snapshot(factory) as session:
        first_resident = reports.first_resident_at(session)
        if first_resident is None:
            return result
        due: list[_Due] = []
        for kind, field in (("day", "daily"), ("week", "weekly"), ("month", "monthly")):
            period = latest_due(kind, now, settings.timezone, settings.reports.push_minute)
            # No reports on the time before anyone was registered: a new install sends none for yesterday.
            if period.bounds(settings.timezone)[1] <= first_resident:
                continue
            due += _unsent(session, settings, period, field, now)
    for start in range(0, len(due), PUSHES_PER_SLICE):
        with bulk_slice(factory) as session:
            _one_at_a_time(session)
            for push in _still_unsent(session, due[start : start + PUSHES_PER_SLICE]):
                queue_push(
                    session,
                    now,
                    worker=session.get_one(Worker, push.reader_id),
                    kind=push.kind,
                    text=push.body,
                )
                setattr(result, push.field, getattr(result, push.field) + 1)
    return result


@dataclass(frozen=True)
class _Due:
    """One report for one reader, built and not yet pushed."""

    field: str
    kind: str
    since: datetime
    reader_id: int
    header: str
    body: str


def _unsent(
    session: Session, settings: DomainSettings, period: Period, field: str, now: datetime
) -> list[_Due]:
    """One period's report for each of its readers who has not had it, each scope's report built once."""
    kind = PUSH_KINDS[period.kind]
    since = period.bounds(settings.timezone)[1]
    sent = _sent(session, kind, since=since)
    built: dict[str, Report] = {}
    due = []
    for reader, scope in _readers(session, settings, period.kind):
        header = report_header(scope, period)
        if (reader.id, header) in sent:
            continue
        report = built.get(scope.key) or build_report(session, settings, scope, period, now)
        built[scope.key] = report
        body = report_text(report, report_link(settings, scope, period))
        due.append(_Due(field, kind, since, reader.id, header, body))
    return due


def _still_unsent(session: Session, due: list[_Due]) -> list[_Due]:
    """The reports nobody pushed since they were built (checked in the transaction that pushes them)."""
    sent: dict[tuple[str, datetime], set[tuple[int | None, str]]] = {}
    unsent = []
    for push in due:
        key = (push.kind, push.since)
        if key not in sent:
            sent[key] = _sent(session, push.kind, since=push.since)
        if (push.reader_id, push.header) not in sent[key]:
            unsent.append(push)
            sent[key].add((push.reader_id, push.header))
    return unsent


def _readers(session: Session, settings: DomainSettings, kind: str) -> list[tuple[Worker, Scope]]:
    """Daily: each grid's leader, for that grid. Weekly and monthly: each community office account."""
    if kind == "day":
        leaders = reports.grid_leaders(session)
        return [
            (session.get_one(Worker, leaders[code]), scope)
            for scope in grid_scopes(session)
            if (code := scope.grid_code) in leaders
        ]
    offices = community_desk(session)
    community = scope_for_community(session, settings)
    return [(office, community) for office in offices]


def _sent(session: Session, kind: str, since: datetime) -> set[tuple[int | None, str]]:
    """(reader, report header) of every push of this kind made since the period ended."""
    return {
        (worker_id, body.split("\n", 1)[0]) for worker_id, body in reports.pushes_since(session, kind, since)
    }


def _one_at_a_time(session: Session) -> None:
    """PostgreSQL: wait for any other pushing transaction to commit, so this one sees what it sent."""
    reports.take_turns(session, PUSH_LOCK_KEY)
