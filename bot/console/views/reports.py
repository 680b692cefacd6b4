"""Reports in the console: a grid or the community, for a day, week or month, with charts and XLSX."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy.orm import Session

from bot.console import charts
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
# A chart is an image of its own: its SVG carries pygal's <style>, which the page's policy would refuse
# inline, and it has no script (charts._svg takes pygal's out) nor anything else to load.
CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
CHART_NAMES = ("daily", "categories", "rates", "grids")
DRAWN_FROM_REPORT = {
    "daily": charts.daily_chart,
    "categories": charts.category_chart,
    "rates": charts.rates_chart,
}


def register(blueprint: Blueprint) -> None:
    """Add the report page and its XLSX download."""
    blueprint.add_url_rule("/reports", "reports", report_page)
    blueprint.add_url_rule("/reports.xlsx", "report_xlsx", report_download)
    blueprint.add_url_rule("/reports/<name>.svg", "report_chart", report_chart)


@dataclass(frozen=True)
class Choice:
    """What the query string asks for: a scope the person may read, a period kind and a day in it."""

    scope: Scope
    scopes: list[Scope]
    period: Period


class BadChoice(Exception):
    """The query string asks for something that cannot be shown; the message says what, in Chinese."""


def report_page() -> str | tuple[str, int]:
    """The report's figures as tiles, charts with their tables, the periods around it, and the download."""
    app = console()
    now = app.clock()
    with transaction(app.factory) as session:
        try:
            choice = _choice(session)
        except BadChoice as refused:
            return _refusal(refused)
        report = build_report(session, app.domain, choice.scope, choice.period, now)
        grids = _grid_reports(session, choice, now)
    return page(
        "reports.html",
        report=report,
        choice=choice,
        kinds={kind: PERIOD_NAMES[kind] for kind in KINDS},
        categories=[c for c in report.by_category if c.opened or c.resolved],
        daily_categories=[c for c in report.by_category if c.opened],
        rates=charts.rate_rows(report),
        grids=charts.grid_rows(grids),
        percent=percent,
        earlier=_shifted(choice.period, -1),
        later=_shifted(choice.period, +1),
    )


def report_chart(name: str) -> Response | tuple[str, int]:
    """One of the report's charts as SVG, drawn from the same report the page shows (and scoped alike)."""
    if name not in CHART_NAMES:
        abort(404)
    app = console()
    now = app.clock()
    with transaction(app.factory) as session:
        try:
            choice = _choice(session)
        except BadChoice as refused:
            return _refusal(refused)
        if name == "grids":
            grids = _grid_reports(session, choice, now)
            if not grids:
                abort(404)
            svg = charts.grids_chart(grids)
        else:
            report = build_report(session, app.domain, choice.scope, choice.period, now)
            svg = DRAWN_FROM_REPORT[name](report)
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = CHART_POLICY
    return response


def report_download() -> Response | tuple[str, int]:
    """The same report as XLSX; the community's comes with one row per grid as well."""
    app = console()
    now = app.clock()
    with transaction(app.factory) as session:
        try:
            choice = _choice(session)
        except BadChoice as refused:
            return _refusal(refused)
        reports = [build_report(session, app.domain, choice.scope, choice.period, now)]
        reports += _grid_reports(session, choice, now)
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
    return Choice(scope, scopes, chosen_period(local_today(app.clock(), app.settings.timezone)))


def chosen_period(today: date) -> Period:
    """The period the query string asks for (today's day by default); BadChoice for a bad one."""
    kind = request.args.get("period", "day")
    if kind not in KINDS:
        raise BadChoice("报表周期只能是日报、周报或月报。")
    return period_for(kind, _day(request.args.get("date"), today))


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


def _grid_reports(session: Session, choice: Choice, now: datetime) -> list[Report]:
    """Each grid's report alongside the community's (as the XLSX has them); none for a grid's report."""
    if choice.scope.grid_code is not None:
        return []
    app = console()
    grids = [s for s in choice.scopes if s.grid_code is not None]
    return [build_report(session, app.domain, scope, choice.period, now) for scope in grids]
