"""Reports in words: the short push for WeChat, the full text for the terminal, the console link."""

from __future__ import annotations

from urllib.parse import urlencode

from handlers.domain_settings import DomainSettings
from handlers.jobs.reports.figures import Report
from handlers.jobs.reports.periods import Period
from handlers.jobs.reports.scopes import Scope
from handlers.texts import local_time

TITLES = {"day": "日报", "week": "周报", "month": "月报"}
WITHIN = {"day": "当日", "week": "本周", "month": "本月"}


def report_header(scope: Scope, period: Period) -> str:
    """The first line of a report: '【日报】第一网格 · 2026年11月22日'."""
    return f"【{TITLES[period.kind]}】{scope.label} · {period.label}"


def report_link(settings: DomainSettings, scope: Scope, period: Period) -> str | None:
    """The full report in the staff console, or None when no console address is configured."""
    base = (settings.reports.console_base_url or settings.console.base_url).rstrip("/")
    if not base:
        return None
    query = urlencode({"scope": scope.key, "period": period.kind, "date": period.start.isoformat()}, safe=":")
    return f"{base}/console/reports?{query}"


def report_text(report: Report, link: str | None) -> str:
    """The short summary pushed on WeChat; a day with no tickets says so plainly (零报告)."""
    lines = [report_header(report.scope, report.period)]
    if report.zero:
        lines.append(f"零报告:{WITHIN[report.period.kind]}无新工单、无办结,当前无超期工单。")
    else:
        lines += [_tickets(report) + "。", _rates(report) + "。", _overdue(report)]
    if report.checkins_pinged or report.knock_tasks:
        lines.append(_checkins(report) + "。")
    if report.visits_due or report.visits_recorded:
        lines.append(_visits(report) + "。")
    if link:
        lines.append(f"完整报表:{link}")
    return "\n".join(lines)


def report_detail(report: Report) -> str:
    """Every figure of the report, for the terminal (`run.py report`)."""
    r = report
    lines = [
        report_header(r.scope, r.period),
        f"统计时间:{local_time(r.generated_at, r.timezone)}",
        f"工单:新增{r.opened}件(其中已取消{r.cancelled}件),办结{r.resolved}件",
    ]
    lines += [
        f"  {c.label}:新增{c.opened}件,办结{c.resolved}件" for c in r.by_category if c.opened or c.resolved
    ]
    lines += [
        f"响应率:{percent(r.response_rate)}(按时签收{r.acknowledged_in_time}件 / 应签收{r.ack_judged}件)",
        f"解决率:{percent(r.resolution_rate)}(按期办结{r.resolved_in_time}件 / 应办结{r.resolve_judged}件)",
        f"满意率:{percent(r.satisfaction_rate)}(满意和基本满意{r.satisfied}件 / 评价{r.rated}件)",
        f"当前超期:{r.overdue_now}件",
        f"平安问候:{percent(r.checkin_answer_rate)}"
        f"(应答{r.checkins_answered}人次 / 问候{r.checkins_pinged}人次)",
        f"敲门任务:{r.knock_tasks}件",
        f"走访:{percent(r.visits_rate)}(已访{r.visits_done}户 / 应访{r.visits_due}户),"
        f"共记录走访{r.visits_recorded}次",
    ]
    return "\n".join(lines)


def percent(rate: float | None) -> str:
    """0.5 -> '50%'; None (nothing to rate) -> '暂无'."""
    return "暂无" if rate is None else f"{rate:.0%}"


def _tickets(report: Report) -> str:
    busy = [f"{c.label}{c.opened}" for c in report.by_category if c.opened]
    opened = f"新工单{report.opened}件({'、'.join(busy)})" if report.opened else "无新工单"
    return f"{opened},办结{report.resolved}件"


def _rates(report: Report) -> str:
    r = report
    return "、".join(
        [
            _rated("响应率", r.response_rate, r.acknowledged_in_time, r.ack_judged),
            _rated("解决率", r.resolution_rate, r.resolved_in_time, r.resolve_judged),
            _rated("满意率", r.satisfaction_rate, r.satisfied, r.rated),
        ]
    )


def _rated(name: str, rate: float | None, part: int, whole: int) -> str:
    return f"{name}暂无" if rate is None else f"{name}{percent(rate)}({part}/{whole})"


def _overdue(report: Report) -> str:
    count = report.overdue_now
    return f"当前超期工单{count}件,请督促办理。" if count else "当前无超期工单。"


def _checkins(report: Report) -> str:
    r = report
    answered = f"应答{r.checkins_answered}/{r.checkins_pinged}人次"
    if r.checkin_answer_rate is not None:
        answered += f"({percent(r.checkin_answer_rate)})"
    return f"平安问候{answered},敲门任务{r.knock_tasks}件"


def _visits(report: Report) -> str:
    r = report
    done = f"走访应访{r.visits_due}户,已访{r.visits_done}户"
    return done + (f"({percent(r.visits_rate)})" if r.visits_rate is not None else "")
