"""Reports (日报, 周报, 月报): figures per grid and for the community, as text, XLSX and scheduled pushes.

The figures and how each is counted: docs/reports.md.
"""

from handlers.jobs.reports.export import CommunitySheet, report_xlsx, street_xlsx
from handlers.jobs.reports.figures import CategoryFigures, DayFigures, Report, build_report
from handlers.jobs.reports.periods import (
    FIRST_DAY,
    KINDS,
    LAST_DAY,
    DayOutOfRange,
    Period,
    latest_due,
    local_today,
    neighbour,
    period_for,
    previous_period,
)
from handlers.jobs.reports.pushes import PUSH_KINDS, ReportPushes, push_reports
from handlers.jobs.reports.render import percent, report_detail, report_header, report_link, report_text
from handlers.jobs.reports.scopes import (
    Scope,
    grid_scopes,
    scope_for_community,
    scope_for_grid,
    scopes_for_worker,
)

__all__ = [
    "FIRST_DAY",
    "KINDS",
    "LAST_DAY",
    "PUSH_KINDS",
    "CategoryFigures",
    "CommunitySheet",
    "DayFigures",
    "DayOutOfRange",
    "Period",
    "Report",
    "ReportPushes",
    "Scope",
    "build_report",
    "grid_scopes",
    "latest_due",
    "local_today",
    "neighbour",
    "percent",
    "period_for",
    "previous_period",
    "push_reports",
    "report_detail",
    "report_header",
    "report_link",
    "report_text",
    "report_xlsx",
    "scope_for_community",
    "scope_for_grid",
    "scopes_for_worker",
    "street_xlsx",
]
