"""Reports in the console: figures with bars, each person's scopes only, and the XLSX download."""

from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook

from tests.e2e.console_support import act, make_account, sign_in, text

ZHANG, SUN = "demo-resident-zhang", "demo-resident-sun"  # grids G1 and G3


@pytest.fixture
def accounts(factory, clock) -> None:
    """王芳 (worker of G1) and the community desk."""
    make_account(factory, clock, "王芳", "wangfang", "worker")
    make_account(factory, clock, "社区值班台", "duty", "community")


def test_a_grids_day_report_counts_what_happened_and_draws_bars(app, wechat, accounts) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(ZHANG, "楼上邻居太吵了")
    client = app.test_client()
    sign_in(client, "wangfang")
    act(client, 1, "resolve", text="修好了")
    page = client.get("/console/reports?scope=grid:G1&period=day&date=2026-11-23")
    assert page.status_code == 200
    shown = text(page)
    assert "日报 第一网格 · 2026年11月23日" in shown
    assert "新增工单 2" in shown and "办结工单 1" in shown
    assert "报修" in shown and "邻里纠纷" in shown and "响应率 100%(1/1)" in shown
    assert 'class="bar"' in page.get_data(as_text=True)


def test_the_default_is_todays_report_of_the_persons_first_scope(app, wechat, accounts) -> None:
    client = app.test_client()
    sign_in(client, "wangfang")
    shown = text(client.get("/console/reports"))
    assert "日报 第一网格 · 2026年11月23日" in shown and "零报告" in shown


def test_reports_of_grids_a_person_does_not_look_after_are_not_found(app, accounts) -> None:
    worker, office = app.test_client(), app.test_client()
    sign_in(worker, "wangfang")
    sign_in(office, "duty")
    for scope in ("grid:G3", "community", "grid:NOPE"):
        assert worker.get(f"/console/reports?scope={scope}").status_code == 404
        assert worker.get(f"/console/reports.xlsx?scope={scope}").status_code == 404
    assert office.get("/console/reports?scope=community&period=month").status_code == 200
    assert office.get("/console/reports?scope=grid:G3&period=week").status_code == 200
    assert office.get("/console/reports?period=year").status_code == 400
    assert office.get("/console/reports?date=yesterday").status_code == 400


def test_the_community_report_downloads_as_xlsx_with_a_row_per_grid(app, wechat, accounts) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(SUN, "马桶不下水")
    client = app.test_client()
    sign_in(client, "duty")
    response = client.get("/console/reports.xlsx?scope=community&period=week&date=2026-11-23")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Content-Disposition"].endswith("griddesk-community-week-2026-11-23.xlsx")
    workbook = load_workbook(BytesIO(response.data))
    summary = list(workbook.worksheets[0].iter_rows(values_only=True))
    scopes = [row[0] for row in summary[1:]]
    assert scopes == ["幸福里社区", "第一网格", "第二网格", "第三网格"]
    opened = summary[0].index("新增工单")
    assert [row[opened] for row in summary[1:]] == [2, 1, 0, 1]


def test_dates_at_the_ends_of_the_calendar_are_refused_with_a_reason(app, accounts) -> None:
    client = app.test_client()
    sign_in(client, "duty")
    for day in ("0001-01-01", "0001-01-07", "9999-12-31"):
        for period in ("day", "week", "month"):
            for path in ("/console/reports", "/console/reports.xlsx"):
                page = client.get(f"{path}?scope=community&period={period}&date={day}")
                assert page.status_code == 400, (path, period, day)
                assert "日期超出范围" in text(page) and "1970-01-01 至 2999-12-31" in text(page)
    assert "日期格式不对" in text(client.get("/console/reports?date=2026-13-01"))
    first = client.get("/console/reports?scope=community&period=month&date=1970-01-01")
    last = client.get("/console/reports?scope=community&period=week&date=2999-12-31")
    assert first.status_code == last.status_code == 200
    assert "上一月" not in text(first) and "下一月" in text(first)
    assert "上一周" in text(last) and "下一周" not in text(last)
