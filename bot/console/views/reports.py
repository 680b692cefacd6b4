"""Reports in the console: one grid or the community, for a day, week or month, with bars and an XLSX file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy.orm import Session

from bot.console.pages import console, page, staff
from handlers.jobs.reports import (
    FIRST_DAY,
    KINDS,
    LAST_DAY,
    Period,
    Report,
    Scope,
    build_report,
    local_today,
    neighbour,
    percent,
    period_for,
    report_xlsx,
    scopes_for_worker,
)
from storage.db import transaction
from storage.models import Worker

PERIOD_NAMES = {"day": "日报", "week": "周报", "month": "月报"}


def register(blueprint: Blueprint) -> None:
    """Add the report page and its XLSX download."""
    blueprint.add_url_rule("/reports", "reports", report_page)
    blueprint.add_url_rule("/reports.xlsx", "report_xlsx", report_download)


@dataclass(frozen=True)
class Choice:
    """What the query string asks for: a scope the person may read, a period kind and a day in it."""

    scope: Scope
    scopes: list[Scope]
    period: Period


class BadChoice(Exception):
    """The query string asks for something that cannot be shown; the message says what, in Chinese."""


@dataclass(frozen=True)
class Bar:
    """One row of a bar chart: a label, a value, its width in percent of the longest bar, and a caption."""

    label: str
    value: float
    width: float
    caption: str


def report_page() -> str | tuple[str, int]:
    """The report with its figures as tiles and bars, links to the periods around it, and the download."""
    app = console()
    with transaction(app.factory) as session:
        try:
            choice = _choice(session)
        except BadChoice as refused:
            return _refusal(refused)
        report = build_report(session, app.domain, choice.scope, choice.period, app.clock())
    return page(
        "reports.html",
        report=report,
        choice=choice,
        kinds={kind: PERIOD_NAMES[kind] for kind in KINDS},
        categories=_category_bars(report),
        rates=_rate_bars(report),
        percent=percent,
        earlier=_shifted(choice.period, -1),
        later=_shifted(choice.period, +1),
    )


def report_download() -> Response | tuple[str, int]:
    """The same report as XLSX; the community's comes with one row per grid as well."""
    app = console()
    now = app.clock()
    with transaction(app.factory) as session:
        try:
            choice = _choice(session)
        except BadChoice as refused:
            return _refusal(refused)
        scopes = [choice.scope]
        if choice.scope.grid_code is None:
            scopes += [s for s in choice.scopes if s.grid_code is not None]
        reports = [build_report(session, app.domain, scope, choice.period, now) for scope in scopes]
    name = f"griddesk-{choice.scope.key.replace(':', '-')}-{choice.period.kind}-{choice.period.start}.xlsx"
    return Response(
        report_xlsx(reports),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename={name}", "Cache-Control": "private, no-store"},
    )


def _refusal(refused: BadChoice) -> tuple[str, int]:
    """A 400 page that says what was wrong with the request."""
    return render_template("console/error.html", message=str(refused), code=400), 400


def _choice(session: Session) -> Choice:
    """Read scope, period and date; a scope the person may not read is not found, a bad date is 400."""
    app, me = console(), staff()
    worker = session.get(Worker, me.worker_id)
    if worker is None:
        abort(404)
    scopes = scopes_for_worker(session, worker, app.domain)
    if not scopes:
        abort(404)
    key = request.args.get("scope") or scopes[0].key
    scope = next((s for s in scopes if s.key == key), None)
    if scope is None:
        abort(404)
    kind = request.args.get("period", "day")
    if kind not in KINDS:
        raise BadChoice("报表周期只能是日报、周报或月报。")
    day = _day(request.args.get("date"), local_today(app.clock(), app.settings.timezone))
    return Choice(scope, scopes, period_for(kind, day))


def _day(text: str | None, today: date) -> date:
    if not text:
        return today
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadChoice(f"日期格式不对:{text[:20]},请写成 2026-11-23 这样。") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadChoice(f"日期超出范围:报表只能查看 {FIRST_DAY} 至 {LAST_DAY} 之间的日期。")
    return day


def _shifted(period: Period, step: int) -> str | None:
    """The first day of the period before (-1) or after (+1); None at the edge of the calendar."""
    other = neighbour(period, step)
    return other.start.isoformat() if other else None


def _category_bars(report: Report) -> list[tuple[Bar, Bar]]:
    """Opened and resolved per category, categories with nothing left out."""
    busy = [c for c in report.by_category if c.opened or c.resolved]
    longest = max((max(c.opened, c.resolved) for c in busy), default=0) or 1
    return [
        (
            Bar(c.label, c.opened, 100 * c.opened / longest, f"新增{c.opened}"),
            Bar(c.label, c.resolved, 100 * c.resolved / longest, f"办结{c.resolved}"),
        )
        for c in busy
    ]


def _rate_bars(report: Report) -> list[Bar]:
    """The rates as bars out of 100%; a rate with nothing to count shows an empty bar and '暂无'."""
    r = report
    rows = [
        ("响应率", r.response_rate, f"{r.acknowledged_in_time}/{r.ack_judged}"),
        ("解决率", r.resolution_rate, f"{r.resolved_in_time}/{r.resolve_judged}"),
        ("满意率", r.satisfaction_rate, f"{r.satisfied}/{r.rated}"),
        ("问候应答率", r.checkin_answer_rate, f"{r.checkins_answered}/{r.checkins_pinged}"),
        ("走访完成率", r.visits_rate, f"{r.visits_done}/{r.visits_due}"),
    ]
    return [
        Bar(label, rate or 0.0, 100 * (rate or 0.0), f"{percent(rate)}({counts})")
        for label, rate, counts in rows
    ]
