"""The street office's reports: each community's report for a period, a chart of them, one workbook."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime

from flask import Blueprint, Response, abort

from bot.console import charts
from bot.console.pages import console, page
from bot.console.views.reports import (
    CHART_POLICY,
    PERIOD_NAMES,
    BadChoice,
    _refusal,
    _shifted,
    chosen_period,
)
from bot.console.views.street import Community, communities
from handlers.jobs.reports import (
    KINDS,
    CommunitySheet,
    Period,
    Report,
    build_report,
    grid_scopes,
    local_today,
    percent,
    scope_for_community,
    street_xlsx,
)
from storage.db import snapshot
from storage.repositories import street

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def register(blueprint: Blueprint) -> None:
    """Add the street's report page, its chart and its workbook."""
    blueprint.add_url_rule("/street/reports", "street_reports", street_reports)
    blueprint.add_url_rule("/street/reports.xlsx", "street_report_xlsx", street_report_xlsx)
    blueprint.add_url_rule("/street/reports/<name>.svg", "street_report_chart", street_report_chart)


def _period() -> Period:
    """The period asked for, today's day by default (BadChoice for a bad one)."""
    app = console()
    return chosen_period(local_today(app.clock(), app.settings.timezone))


def _reports(period: Period, now: datetime) -> list[tuple[Community, Report]]:
    """Each community's own report for the period, in the street's order."""
    found = []
    for place in communities().values():
        with snapshot(place.factory) as session:
            scope = scope_for_community(session, place.domain)
            found.append((place, build_report(session, place.domain, scope, period, now)))
    return found


def street_reports() -> str | tuple[str, int]:
    """A row per community: its tickets, rates, check-ins and visits, and a chart comparing their rates."""
    communities()
    try:
        period = _period()
    except BadChoice as refused:
        return _refusal(refused)
    reports = _reports(period, console().clock())
    return page(
        "street_reports.html",
        period=period,
        reports=reports,
        rates={place.slug: charts.rate_rows(report) for place, report in reports},
        compared=charts.grid_rows([report for _, report in reports]),
        kinds={kind: PERIOD_NAMES[kind] for kind in KINDS},
        percent=percent,
        earlier=_shifted(period, -1),
        later=_shifted(period, +1),
    )


def street_report_chart(name: str) -> Response | tuple[str, int]:
    """The communities' response and resolution rates side by side (charts.grids_chart, a bar a community)."""
    communities()
    if name != "communities":
        abort(404)
    try:
        period = _period()
    except BadChoice as refused:
        return _refusal(refused)
    svg = charts.grids_chart([report for _, report in _reports(period, console().clock())])
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = CHART_POLICY
    return response


def street_report_xlsx() -> Response | tuple[str, int]:
    """One workbook for the street: a summary row per community, then a sheet per community with its
    report, its grids' and its tickets of the period (residents masked)."""
    try:
        period = _period()
    except BadChoice as refused:
        return _refusal(refused)
    now = console().clock()
    sheets = []
    # Every community's session stays open until the workbook is written: it reads their tickets.
    with ExitStack() as stack:
        for place in communities().values():
            session = stack.enter_context(snapshot(place.factory))
            scopes = [scope_for_community(session, place.domain), *grid_scopes(session)]
            reports = [build_report(session, place.domain, scope, period, now) for scope in scopes]
            start, end = period.bounds(place.settings.timezone)
            sheets.append(CommunitySheet(place.name, reports, street.opened_between(session, start, end)))
        workbook = street_xlsx(sheets)
    name = f"griddesk-street-{period.kind}-{period.start}.xlsx"
    return Response(
        workbook,
        mimetype=XLSX,
        headers={"Content-Disposition": f"attachment; filename={name}", "Cache-Control": "private, no-store"},
    )
