"""Reports checked against a hand-built history: real tickets through the webhook, a clock moved by hand.

The history (local time, Asia/Shanghai; the demo community is registered on 11月20日 08:00):

  #1 G1 张秀兰 water leak   11-29 23:30  王芳 signs 23:40, resolves 11-30 10:00, rated 1 (满意) 10:05
  #2 G2 刘建华 bill         11-30 07:00 (23:00 UTC the day before)  unsigned at 11:00: the sweep escalates it;
                            李骁 signs 11:30, resolves 15:00, rated 3 (不满意) 15:10 -> reopened;
                            signs 16:00, resolves 12-01 09:05, rated 2 (基本满意) 09:30
  #3 G1 张秀兰 inquiry      11-30 09:00  cancelled by her 09:05
  #4 no grid (unbound)     11-30 12:00  water leak, nobody signs (the sweep re-pages 14:01), never resolved
  #5 G1 张秀兰 dispute      12-01 00:30 (16:30 UTC on 11-30)  nobody signs
  #6 G3 孙桂英 敲门 task     12-01 13:00  her 09:00 check-in went unanswered; 李骁 signs 13:10, resolves 14:00
  check-ins 12-01 09:00: 张秀兰 (G1) answers 1 at 09:10, 孙桂英 (G3) does not
  visits: 王芳 visits 张秀兰 (hardship, weekly; due 11-27) 11-30 16:30;
          李骁 visits 刘建华 (ordinary, not due for months) 12-01 10:00

Every report is read at 12-02 12:00.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from io import BytesIO
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.messenger import ConsoleMessenger
from bot.scheduler import build_scheduler
from config.settings import SettingsError
from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins import knock_sweep, ping_sweep, remind_sweep
from handlers.jobs.escalation import sweep as deadline_sweep
from handlers.jobs.reports import (
    Report,
    build_report,
    period_for,
    previous_period,
    push_reports,
    report_text,
    report_xlsx,
    scope_for_community,
    scope_for_grid,
    scopes_for_worker,
)
from storage.db import make_engine, transaction
from storage.leases import JobLeases
from storage.models import OutboxMessage, Worker
from tests.conftest import DemoTemplates, make_settings, pushes
from tests.integration.test_checkins import CHECKIN_SUBSCRIPTION, everyone_subscribed
from tests.support import FakeClock, WeChatServer

LOCAL = ZoneInfo("Asia/Shanghai")
ZHANG, LIU, SUN, NEWCOMER = "demo-resident-zhang", "demo-resident-liu", "demo-resident-sun", "o-newcomer"
WANG, LI, ZHAO, DUTY = "demo-worker-wang", "demo-worker-li", "demo-leader-zhao", "demo-community-duty"


def local(moment: str) -> datetime:
    """'2026-11-29 23:30' in Asia/Shanghai, as aware UTC."""
    return datetime.fromisoformat(moment).replace(tzinfo=LOCAL).astimezone(UTC)


def move(clock: FakeClock, moment: str) -> None:
    target = local(moment)
    assert target >= clock.now, "the history only moves forward"
    clock.now = target


@pytest.fixture
def clock() -> FakeClock:
    """The demo community is registered at 08:00 local on Friday 20 November 2026."""
    return FakeClock(local("2026-11-20 08:00"))


NOW = "2026-12-02 12:00"


def build_history(
    wechat: WeChatServer, factory, settings: DomainSettings, classifier, clock: FakeClock
) -> None:
    """The history in the module docstring, each step checked as it happens."""

    def at(moment: str, openid: str, text: str, expect: str) -> None:
        move(clock, moment)
        reply = wechat.say(openid, text)
        assert expect in reply, reply

    def sweep(moment: str) -> None:
        move(clock, moment)
        assert deadline_sweep(factory, settings, classifier, clock()).failed == 0

    at("2026-11-29 23:30", ZHANG, "卫生间水管漏水了", "工单")
    at("2026-11-29 23:40", WANG, "签收 1", "已签收工单 #1")
    at("2026-11-30 07:00", LIU, "帮忙交一下水电费", "工单")
    at("2026-11-30 09:00", ZHANG, "低保怎么办理", "工单")
    at("2026-11-30 09:05", ZHANG, "取消 3", "工单 #3 已取消")
    at("2026-11-30 10:00", WANG, "办结 1 阀门已更换", "已请居民评价")
    at("2026-11-30 10:05", ZHANG, "1", "感谢您的评价")
    sweep("2026-11-30 11:01")  # #2 was not signed by 11:00
    at("2026-11-30 11:30", LI, "签收 2", "已签收工单 #2")
    at("2026-11-30 12:00", NEWCOMER, "家里水管漏了", "工单")
    sweep("2026-11-30 14:01")  # #4 was not signed by 14:00
    at("2026-11-30 15:00", LI, "办结 2 已代缴", "已请居民评价")
    at("2026-11-30 15:10", LIU, "3", "很抱歉")
    at("2026-11-30 16:00", LI, "签收 2", "已签收工单 #2")
    at("2026-11-30 16:30", WANG, "走访 3号楼2单元301 身体不错", "已记录走访")
    at("2026-12-01 00:30", ZHANG, "楼上邻居太吵了", "工单")
    move(clock, "2026-12-01 09:00")
    # Both elders accepted the ping's subscription message (孙桂英 has not written for days).
    everyone_subscribed(factory, clock())
    settings = replace(settings, subscriptions=CHECKIN_SUBSCRIPTION)
    assert ping_sweep(factory, settings, clock()).pinged == 2
    at("2026-12-01 09:05", LI, "办结 2 已代缴并送回收据", "已请居民评价")
    at("2026-12-01 09:10", ZHANG, "1", "收到您的平安")
    at("2026-12-01 09:30", LIU, "2", "感谢您的评价")
    at("2026-12-01 10:00", LI, "走访 502 一切正常", "已记录走访")
    move(clock, "2026-12-01 11:00")
    assert remind_sweep(factory, settings, clock()).reminded == 1
    move(clock, "2026-12-01 13:00")
    assert knock_sweep(factory, settings, classifier, clock()).knocked == 1
    at("2026-12-01 13:10", LI, "签收 6", "已签收工单 #6")
    at("2026-12-01 14:00", LI, "办结 6 已上门,老人安好", "已办结")
    move(clock, NOW)


@dataclass(frozen=True)
class History:
    """The database the history was built in, and the settings its sweeps and reports read."""

    factory: sessionmaker[Session]
    settings: DomainSettings


@pytest.fixture(scope="module")
def history(tmp_path_factory, classifier, demo_templates: DemoTemplates) -> Iterator[History]:
    """The history, built once for the module's read-only tests."""
    settings = make_settings(tmp_path_factory.mktemp("history"))
    clock = FakeClock(local("2026-11-20 08:00"))
    engine = make_engine(settings.database_url)
    try:
        factory = demo_templates.demo_database(engine, settings, clock())
        app = create_app(settings, factory, classifier, clock)
        wechat = WeChatServer(app.test_client(), settings.wechat, clock)
        domain = DomainSettings.of(settings)
        build_history(wechat, factory, domain, classifier, clock)
        yield History(factory, domain)
    finally:
        engine.dispose()


def report(history: History, scope: str, kind: str, day: str) -> Report:
    """The report of a grid ('G1') or the community ('community') for the period containing `day`."""
    settings = history.settings
    with transaction(history.factory) as session:
        if scope == "community":
            reach = scope_for_community(session, settings)
        else:
            reach = scope_for_grid(session, scope)
        return build_report(session, settings, reach, period_for(kind, date.fromisoformat(day)), local(NOW))


def figures(r: Report) -> dict[str, object]:
    """The counts of a report, pairs as (part, whole)."""
    return {
        "opened": r.opened,
        "cancelled": r.cancelled,
        "resolved": r.resolved,
        "ack": (r.acknowledged_in_time, r.ack_judged),
        "resolve": (r.resolved_in_time, r.resolve_judged),
        "rated": (r.satisfied, r.rated),
        "overdue": r.overdue_now,
        "checkins": (r.checkins_answered, r.checkins_pinged),
        "knock": r.knock_tasks,
        "visits": (r.visits_done, r.visits_due),
        "recorded": r.visits_recorded,
    }


def categories(r: Report) -> dict[str, tuple[int, int]]:
    """(opened, resolved) of the categories that had any, by Chinese label."""
    return {c.label: (c.opened, c.resolved) for c in r.by_category if c.opened or c.resolved}


def rates(r: Report) -> tuple[float | None, ...]:
    return (r.response_rate, r.resolution_rate, r.satisfaction_rate, r.checkin_answer_rate, r.visits_rate)


def counts(**given: object) -> dict[str, object]:
    """A report's figures: zero unless given."""
    zero = {"opened": 0, "cancelled": 0, "resolved": 0, "ack": (0, 0), "resolve": (0, 0), "rated": (0, 0)}
    zero |= {"overdue": 0, "checkins": (0, 0), "knock": 0, "visits": (0, 0), "recorded": 0}
    return zero | given


DAYS = {
    # 23:30 on Sunday belongs to Sunday; only #1 was opened. #4 (no grid) and #5 (G1) are overdue now.
    ("community", "2026-11-29"): counts(ack=(1, 1), resolve=(1, 1), opened=1, overdue=2, visits=(0, 1)),
    ("G1", "2026-11-29"): counts(ack=(1, 1), resolve=(1, 1), opened=1, overdue=1, visits=(0, 1)),
    ("G2", "2026-11-29"): counts(),
    # 07:00 local is the day before in UTC: #2 belongs to 11-30. #3 was cancelled; #4 is late on both counts.
    ("community", "2026-11-30"): counts(
        opened=3, cancelled=1, resolved=1, ack=(0, 2), resolve=(1, 2), rated=(1, 2), overdue=2,
        visits=(1, 1), recorded=1,
    ),
    ("G1", "2026-11-30"): counts(
        opened=1, cancelled=1, resolved=1, rated=(1, 1), overdue=1, visits=(1, 1), recorded=1
    ),
    ("G2", "2026-11-30"): counts(opened=1, ack=(0, 1), resolve=(1, 1), rated=(0, 1)),
    ("G3", "2026-11-30"): counts(),
    # #5 is not due for resolving until 12-08: it counts for the response only.
    ("community", "2026-12-01"): counts(
        opened=2, resolved=2, ack=(1, 2), resolve=(1, 1), rated=(1, 1), overdue=2, checkins=(1, 2),
        knock=1, recorded=1,
    ),
    ("G1", "2026-12-01"): counts(opened=1, ack=(0, 1), overdue=1, checkins=(1, 1)),
    ("G2", "2026-12-01"): counts(resolved=1, rated=(1, 1), recorded=1),
    ("G3", "2026-12-01"): counts(opened=1, resolved=1, ack=(1, 1), resolve=(1, 1), checkins=(0, 1), knock=1),
}  # fmt: skip


def test_daily_figures_per_grid_and_for_the_community(history) -> None:
    assert {(scope, day): figures(report(history, scope, "day", day)) for scope, day in DAYS} == DAYS


def test_days_by_category_and_rates(history) -> None:
    sunday = report(history, "community", "day", "2026-11-29")
    assert categories(sunday) == {"报修": (1, 0)}
    assert sunday.period.label == "2026年11月29日" and sunday.scope.label == "幸福里社区"
    monday = report(history, "community", "day", "2026-11-30")
    assert categories(monday) == {"报修": (1, 1), "缴费": (1, 0), "咨询": (1, 0)}
    assert rates(monday) == (0.0, 0.5, 0.5, None, 1.0)
    assert rates(report(history, "G1", "day", "2026-11-30")) == (None, None, 1.0, None, 1.0)
    tuesday = report(history, "community", "day", "2026-12-01")
    assert categories(tuesday) == {"缴费": (0, 1), "邻里纠纷": (1, 0), "敲门探访": (1, 1)}
    assert rates(tuesday) == (0.5, 1.0, 1.0, 0.5, None)
    quiet = report(history, "G3", "day", "2026-11-30")
    assert quiet.zero and rates(quiet) == (None,) * 5 and len(quiet.by_category) == 9


def test_weeks_start_on_monday(history) -> None:
    week_48 = report(history, "community", "week", "2026-11-29")
    assert week_48.period.label == "2026年第48周(11月23日–11月29日)"
    assert figures(week_48) == counts(ack=(1, 1), resolve=(1, 1), opened=1, overdue=2, visits=(0, 1))
    week_49 = report(history, "community", "week", "2026-12-06")
    assert (week_49.period.start, week_49.period.end) == (date(2026, 11, 30), date(2026, 12, 7))
    assert figures(week_49) == counts(
        opened=5, cancelled=1, resolved=3, ack=(1, 4), resolve=(2, 3), rated=(2, 3), overdue=2,
        checkins=(1, 2), knock=1, visits=(1, 1), recorded=2,
    )  # fmt: skip
    assert categories(week_49) == {
        "报修": (1, 1), "缴费": (1, 1), "邻里纠纷": (1, 0), "咨询": (1, 0), "敲门探访": (1, 1),
    }  # fmt: skip
    assert rates(week_49) == (0.25, 2 / 3, 2 / 3, 0.5, 1.0)
    g1 = report(history, "G1", "week", "2026-11-30")
    assert figures(g1) == counts(
        opened=2, cancelled=1, resolved=1, ack=(0, 1), rated=(1, 1), overdue=1, checkins=(1, 1),
        visits=(1, 1), recorded=1,
    )  # fmt: skip


def test_months_follow_the_local_calendar(history) -> None:
    november = report(history, "community", "month", "2026-11-01")
    assert november.period.label == "2026年11月"
    assert figures(november) == counts(
        opened=4, cancelled=1, resolved=1, ack=(1, 3), resolve=(2, 3), rated=(1, 2), overdue=2,
        visits=(1, 1), recorded=1,
    )  # fmt: skip
    assert categories(november) == {"报修": (2, 1), "缴费": (1, 0), "咨询": (1, 0)}
    # 00:30 on 1 December is still 30 November in UTC; #2 counts as resolved when it was resolved for good.
    december = report(history, "community", "month", "2026-12-31")
    assert figures(december) == counts(
        opened=2, resolved=2, ack=(1, 2), resolve=(1, 1), rated=(1, 1), overdue=2, checkins=(1, 2),
        knock=1, visits=(0, 2), recorded=1,
    )  # fmt: skip
    g3 = report(history, "G3", "month", "2026-12-01")
    assert figures(g3) == counts(
        opened=1, resolved=1, ack=(1, 1), resolve=(1, 1), checkins=(0, 1), knock=1, visits=(0, 1)
    )
    assert previous_period(december.period) == november.period


def test_tickets_opened_per_local_day_add_up_to_the_categories(history) -> None:
    november = report(history, "community", "month", "2026-11-01")
    busy = {d.day.isoformat(): d.opened for d in november.by_day if d.total}
    # 23:30 on the 29th is that day; 07:00 on the 30th (23:00 UTC on the 29th) is the 30th.
    assert busy == {
        "2026-11-29": {**dict.fromkeys(busy["2026-11-29"], 0), "repair": 1},
        "2026-11-30": {**dict.fromkeys(busy["2026-11-30"], 0), "repair": 1, "bill": 1, "inquiry": 1},
    }
    assert len(november.by_day) == 30 and november.by_day[0].day == date(2026, 11, 1)
    for c in november.by_category:
        assert sum(d.opened[c.category] for d in november.by_day) == c.opened
    # G1: #3 on the 30th; #5 at 00:30 on 1 December (16:30 UTC on the 30th) on the 1st.
    december = report(history, "G1", "week", "2026-12-01")
    assert [d.total for d in december.by_day] == [1, 1, 0, 0, 0, 0, 0]


def test_the_community_is_every_grid_plus_tickets_in_no_grid(history) -> None:
    community = report(history, "community", "week", "2026-11-30")
    grids = [report(history, code, "week", "2026-11-30") for code in ("G1", "G2", "G3")]
    summed = ("cancelled", "resolved", "rated", "satisfied", "checkins_pinged", "visits_due", "knock_tasks")
    for name in summed:
        assert getattr(community, name) == sum(getattr(grid, name) for grid in grids), name
    # #4, from a resident not yet bound to a building, is in the community's figures only.
    assert community.opened == sum(grid.opened for grid in grids) + 1
    assert community.overdue_now == sum(grid.overdue_now for grid in grids) + 1


def test_xlsx_reads_back_with_chinese_headers(history) -> None:
    reports = [report(history, scope, "week", "2026-11-30") for scope in ("community", "G1", "G2")]
    book = openpyxl.load_workbook(BytesIO(report_xlsx(reports)))
    assert book.sheetnames == ["汇总", "分类"]
    header, *rows = list(book["汇总"].iter_rows(values_only=True))
    assert header[:7] == ("范围", "周期", "开始日期", "结束日期", "新增工单", "已取消", "办结工单")
    summary = [dict(zip(header, row, strict=True)) for row in rows]
    assert [row["范围"] for row in summary] == ["幸福里社区", "第一网格", "第二网格"]
    community = summary[0]
    assert community["周期"] == "2026年第49周(11月30日–12月6日)"
    first, last = community["开始日期"].date(), community["结束日期"].date()
    assert (first, last) == (date(2026, 11, 30), date(2026, 12, 6))
    assert (community["新增工单"], community["已取消"], community["办结工单"]) == (5, 1, 3)
    assert (community["按时签收"], community["应签收"], community["响应率"]) == (1, 4, 0.25)
    assert (community["按期办结"], community["应办结"], community["解决率"]) == (2, 3, pytest.approx(2 / 3))
    assert (community["满意评价"], community["评价数"], community["当前超期"]) == (2, 3, 2)
    assert (community["平安问候人次"], community["应答人次"], community["问候应答率"]) == (2, 1, 0.5)
    assert (community["敲门任务"], community["应访户数"], community["已访户数"]) == (1, 1, 1)
    assert community["统计时间"] == "2026-12-02 12:00"
    assert summary[2]["响应率"] == 0.0 and summary[1]["解决率"] is None  # G1's only resolvable one is pending
    by_category = {(row[0], row[2]): row[3:] for row in book["分类"].iter_rows(min_row=2, values_only=True)}
    assert by_category["幸福里社区", "报修"] == (1, 1) and by_category["第二网格", "缴费"] == (1, 1)
    assert len(by_category) == 3 * 9


def test_names_that_look_like_formulas_stay_text_in_the_xlsx(history) -> None:
    """A grid named by staff as a formula is shown as written when the office opens the file."""
    week = report(history, "G1", "week", "2026-11-30")
    odd = replace(week, scope=replace(week.scope, label='=HYPERLINK("http://x.example/","第一网格")'))
    book = openpyxl.load_workbook(BytesIO(report_xlsx([odd, week])))
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    assert book["汇总"]["A2"].value == book["分类"]["A2"].value == odd.scope.label
    assert book["汇总"]["A3"].value == "第一网格"


def test_the_push_text_is_short_and_plain(history) -> None:
    link = "https://griddesk.example.org/console/reports?scope=community&period=day&date=2026-11-30"
    text = report_text(report(history, "community", "day", "2026-11-30"), link)
    assert text.splitlines() == [
        "【日报】幸福里社区 · 2026年11月30日",
        "新工单3件(报修1、缴费1、咨询1),办结1件。",
        "响应率0%(0/2)、解决率50%(1/2)、满意率50%(1/2)。",
        "当前超期工单2件,请督促办理。",
        "走访应访1户,已访1户(100%)。",
        f"完整报表:{link}",
    ]
    quiet = report_text(report(history, "G3", "day", "2026-11-30"), None)
    assert quiet == "【日报】第三网格 · 2026年11月30日\n零报告:当日无新工单、无办结,当前无超期工单。"


def test_who_may_read_which_reports(history) -> None:
    settings = history.settings
    with transaction(history.factory) as session:
        by_openid = {w.openid: w for w in session.scalars(select(Worker))}
        seen = {
            openid: [scope.key for scope in scopes_for_worker(session, by_openid[openid], settings)]
            for openid in (WANG, LI, ZHAO, DUTY)
        }
    assert seen == {
        WANG: ["grid:G1"],
        LI: ["grid:G2"],
        ZHAO: ["grid:G1", "grid:G2", "grid:G3"],
        DUTY: ["community", "grid:G1", "grid:G2", "grid:G3"],
    }


# Scheduled pushes


def reports_pushed(factory) -> list[OutboxMessage]:
    return [push for push in pushes(factory) if push.kind.startswith("report_")]


def at_local(clock: FakeClock, day: str, clock_time: str) -> None:
    moment = datetime.combine(date.fromisoformat(day), time.fromisoformat(clock_time), LOCAL)
    clock.now = moment.astimezone(UTC)


def test_daily_reports_reach_each_leader_once_a_day_zero_reports_too(
    wechat, factory, tmp_path, classifier, clock
) -> None:
    settings = DomainSettings.of(
        make_settings(tmp_path, GRIDDESK_REPORTS_CONSOLE_BASE_URL="https://griddesk.example.org/")
    )
    # The demo community is registered at 08:00 on Friday 11-20; a leak in G1 that day.
    wechat.say(ZHANG, "卫生间水管漏水了")
    at_local(clock, "2026-11-21", "07:59")
    assert push_reports(factory, settings, clock()).total == 0  # before push_time; 11-19 predates everyone
    at_local(clock, "2026-11-21", "08:00")
    assert push_reports(factory, settings, clock()).daily == 3
    first = reports_pushed(factory)
    assert [(p.recipient, p.kind) for p in first] == [(ZHAO, "report_daily")] * 3
    g1, g2, g3 = (p.text.splitlines() for p in first)
    assert g1[:2] == ["【日报】第一网格 · 2026年11月20日", "新工单1件(报修1),办结0件。"]
    assert g1[-1] == (
        "完整报表:https://griddesk.example.org/console/reports?scope=grid:G1&period=day&date=2026-11-20"
    )
    assert g2[:2] == ["【日报】第二网格 · 2026年11月20日", "零报告:当日无新工单、无办结,当前无超期工单。"]
    assert g3[0] == "【日报】第三网格 · 2026年11月20日" and g3[1].startswith("零报告")

    at_local(clock, "2026-11-21", "17:00")
    assert push_reports(factory, settings, clock()).total == 0  # a later run, or a restart, sends nothing
    at_local(clock, "2026-11-22", "08:30")
    assert push_reports(factory, settings, clock()).daily == 3
    assert [p.text.splitlines()[0] for p in reports_pushed(factory)[3:]] == [
        f"【日报】{name} · 2026年11月21日" for name in ("第一网格", "第二网格", "第三网格")
    ]


def test_weekly_and_monthly_reports_reach_the_community_office(wechat, factory, domain, clock) -> None:
    at_local(clock, "2026-11-30", "08:00")  # Monday: week 48 and Sunday's daily reports
    assert (push_reports(factory, domain, clock()).summary()) == "daily=3 weekly=1"
    at_local(clock, "2026-12-01", "08:00")  # the 1st: November, and Monday's daily reports
    assert (push_reports(factory, domain, clock()).summary()) == "daily=3 monthly=1"
    assert push_reports(factory, domain, clock()).total == 0
    office = [p for p in reports_pushed(factory) if p.recipient == DUTY]
    assert [(p.kind, p.text.splitlines()[0]) for p in office] == [
        ("report_weekly", "【周报】幸福里社区 · 2026年第48周(11月23日–11月29日)"),
        ("report_monthly", "【月报】幸福里社区 · 2026年11月"),
    ]
    assert all("完整报表" not in p.text for p in office)  # no console address configured


def test_two_schedulers_at_once_send_each_report_once(
    wechat, factory, settings, domain, classifier, clock
) -> None:
    at_local(clock, "2026-11-30", "08:00")
    schedulers = [
        build_scheduler(settings, factory, ConsoleMessenger(), clock, classifier, leases=JobLeases(factory))
        for _ in range(2)
    ]
    jobs = [scheduler.get_job("report-pushes") for scheduler in schedulers]
    assert jobs[0].trigger.interval.total_seconds() == 60
    barrier = threading.Barrier(4)

    def run(job) -> None:
        barrier.wait()
        job.func()

    def bare() -> None:  # without the job lease: the pushing transaction alone keeps it to once
        barrier.wait()
        push_reports(factory, domain, clock())

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    threads += [threading.Thread(target=bare) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [p.kind for p in reports_pushed(factory)] == ["report_daily"] * 3 + ["report_weekly"]
    for job in jobs:
        job.func()  # and again after a "restart"
    assert len(reports_pushed(factory)) == 4


def test_push_time_is_a_setting(factory, tmp_path, clock) -> None:
    settings = DomainSettings.of(make_settings(tmp_path, GRIDDESK_REPORTS_PUSH_TIME="18:30"))
    at_local(clock, "2026-11-21", "18:29")
    assert push_reports(factory, settings, clock()).total == 0
    at_local(clock, "2026-11-21", "18:30")
    assert push_reports(factory, settings, clock()).daily == 3
    with pytest.raises(SettingsError, match="push_time"):
        make_settings(tmp_path, GRIDDESK_REPORTS_PUSH_TIME="8点")


def test_periods_across_the_new_year() -> None:
    week = period_for("week", date(2027, 1, 2))
    assert (week.start, week.end, week.label) == (
        date(2026, 12, 28),
        date(2027, 1, 4),
        "2026年第53周(12月28日–1月3日)",
    )
    december = previous_period(period_for("month", date(2027, 1, 15)))
    assert (december.start, december.end) == (date(2026, 12, 1), date(2027, 1, 1))
    assert december.label == "2026年12月"
    assert previous_period(period_for("day", date(2027, 1, 1))).label == "2026年12月31日"
