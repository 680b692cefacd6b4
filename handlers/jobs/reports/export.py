"""Reports as an Excel workbook: a summary row per report, and a sheet of tickets by category."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone
from io import BytesIO
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from handlers.jobs.reports.figures import Report
from handlers.language.privacy import mask_name, mask_numbers, mask_phone
from handlers.register.spreadsheets import keep_as_text
from handlers.texts import CATEGORY_LABELS, STATUS_LABELS
from storage.models import Ticket

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

SUMMARY_SHEET, CATEGORY_SHEET, STREET_SHEET = "汇总", "分类", "街道汇总"
TICKET_HEADERS = ["工单号", "类别", "状态", "提交时间", "居民", "电话", "楼栋", "内容"]
PERCENT, DATE = "0.0%", "yyyy-mm-dd"

# (header, value, number format): the summary sheet's columns in order.
SUMMARY_COLUMNS: list[tuple[str, Callable[[Report], Any], str | None]] = [
    ("范围", lambda r: r.scope.label, None),
    ("周期", lambda r: r.period.label, None),
    ("开始日期", lambda r: r.period.start, DATE),
    ("结束日期", lambda r: r.period.end - timedelta(days=1), DATE),
    ("新增工单", lambda r: r.opened, None),
    ("已取消", lambda r: r.cancelled, None),
    ("办结工单", lambda r: r.resolved, None),
    ("按时签收", lambda r: r.acknowledged_in_time, None),
    ("应签收", lambda r: r.ack_judged, None),
    ("响应率", lambda r: r.response_rate, PERCENT),
    ("按期办结", lambda r: r.resolved_in_time, None),
    ("应办结", lambda r: r.resolve_judged, None),
    ("解决率", lambda r: r.resolution_rate, PERCENT),
    ("满意评价", lambda r: r.satisfied, None),
    ("评价数", lambda r: r.rated, None),
    ("满意率", lambda r: r.satisfaction_rate, PERCENT),
    ("当前超期", lambda r: r.overdue_now, None),
    ("平安问候人次", lambda r: r.checkins_pinged, None),
    ("应答人次", lambda r: r.checkins_answered, None),
    ("问候应答率", lambda r: r.checkin_answer_rate, PERCENT),
    ("敲门任务", lambda r: r.knock_tasks, None),
    ("应访户数", lambda r: r.visits_due, None),
    ("已访户数", lambda r: r.visits_done, None),
    ("走访完成率", lambda r: r.visits_rate, PERCENT),
    ("走访记录次数", lambda r: r.visits_recorded, None),
    ("统计时间", lambda r: r.generated_at.astimezone(ZoneInfo(r.timezone)).strftime("%Y-%m-%d %H:%M"), None),
]
CATEGORY_HEADERS = ["范围", "周期", "类别", "新增", "办结"]


def report_xlsx(reports: list[Report]) -> bytes:
    """An XLSX file with Chinese headers: 汇总 (one row per report) and 分类 (tickets by category)."""
    # Imported here: a quarter of a second of every start-up, and only the Excel download needs it.
    from openpyxl import Workbook

    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = SUMMARY_SHEET
    _summary(summary, reports)
    _categories(workbook.create_sheet(CATEGORY_SHEET), reports)
    return _saved(workbook)


@dataclass(frozen=True)
class CommunitySheet:
    """One community's part of the street's workbook: its reports (its own, then its grids') and the
    tickets opened in the period."""

    name: str
    reports: list[Report]
    tickets: list[Ticket]


def street_xlsx(communities: list[CommunitySheet]) -> bytes:
    """The street's workbook: 街道汇总 (a row per community), then a sheet per community with its
    reports and its tickets, residents' names, phones and numbers in the text masked."""
    from openpyxl import Workbook

    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = STREET_SHEET
    _summary(summary, [community.reports[0] for community in communities if community.reports])
    taken = {STREET_SHEET}
    for community in communities:
        sheet = workbook.create_sheet(_sheet_title(community.name, taken))
        _summary(sheet, community.reports)
        sheet.append([])
        sheet.append(TICKET_HEADERS)
        zone = ZoneInfo(community.reports[0].timezone) if community.reports else UTC
        for ticket in community.tickets:
            sheet.append(_ticket_row(ticket, zone))
    return _saved(workbook)


def _ticket_row(ticket: Ticket, zone: ZoneInfo | timezone) -> list[Any]:
    """A ticket as the street's sheet lists it: masked as Open311 and the logs mask residents."""
    resident = ticket.resident
    building = resident.building.name if resident.building is not None else ""
    return [
        ticket.id,
        CATEGORY_LABELS.get(ticket.category, ticket.category),
        STATUS_LABELS.get(ticket.status, ticket.status),
        ticket.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        mask_name(resident.name),
        mask_phone(resident.phone),
        building,
        mask_numbers(ticket.summary or ""),
    ]


def _sheet_title(name: str, taken: set[str]) -> str:
    """A community's name as an Excel sheet's title: without the characters Excel refuses, at most 31
    characters, and told apart from a title already taken."""
    title = "".join(" " if char in "[]:*?/\\" else char for char in name).strip()[:31] or "社区"
    base, count = title, 1
    while title in taken:
        count += 1
        title = f"{base[: 31 - len(str(count)) - 1]}-{count}"
    taken.add(title)
    return title


def _saved(workbook: Workbook) -> bytes:
    """The workbook as XLSX bytes, every cell kept as written."""
    for sheet in workbook.worksheets:
        # Grid and category names are staff's words: shown as written, never run as formulas.
        for row in sheet.iter_rows():
            for cell in row:
                keep_as_text(cell)
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _summary(sheet: Worksheet, reports: list[Report]) -> None:
    from openpyxl.utils import get_column_letter

    sheet.append([header for header, _, _ in SUMMARY_COLUMNS])
    for report in reports:
        sheet.append([value(report) for _, value, _ in SUMMARY_COLUMNS])
        for cell, (_, _, number_format) in zip(sheet[sheet.max_row], SUMMARY_COLUMNS, strict=True):
            if number_format:
                cell.number_format = number_format
    _widen(sheet, {"A": 14, "B": 30, "C": 12, "D": 12, get_column_letter(len(SUMMARY_COLUMNS)): 18})


def _categories(sheet: Worksheet, reports: list[Report]) -> None:
    sheet.append(CATEGORY_HEADERS)
    for report in reports:
        for figures in report.by_category:
            sheet.append(
                [report.scope.label, report.period.label, figures.label, figures.opened, figures.resolved]
            )
    _widen(sheet, {"A": 14, "B": 30, "C": 12})


def _widen(sheet: Worksheet, widths: dict[str, int]) -> None:
    for column, width in widths.items():
        sheet.column_dimensions[column].width = width
