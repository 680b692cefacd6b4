"""Reports in the console: figures, charts with tables, each person's scopes only, and the XLSX download."""

from __future__ import annotations

from io import BytesIO
from xml.etree import ElementTree

import pytest
from openpyxl import load_workbook

from tests.e2e.console_support import act, make_account, sign_in, text

ZHANG, SUN = "demo-resident-zhang", "demo-resident-sun"  # grids G1 and G3


@pytest.fixture
def accounts(factory, clock) -> None:
    """王芳 (worker of G1) and the community desk."""
    make_account(factory, clock, "王芳", "wangfang", "worker")
    make_account(factory, clock, "社区值班台", "duty", "community")


def test_a_grids_day_report_counts_what_happened_and_draws_charts(app, wechat, accounts) -> None:
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
    html = page.get_data(as_text=True)
    assert 'src="/console/reports/rates.svg?scope=grid:G1&amp;period=day&amp;date=2026-11-23"' in html
    assert "<td>100%</td><td>1/1</td>" in html


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


SVG = "{http://www.w3.org/2000/svg}"


def chart(client, name: str, query: str) -> ElementTree.Element:
    """Fetch one report chart and parse it as XML; it must be an SVG image with no script in it."""
    response = client.get(f"/console/reports/{name}.svg?{query}")
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "image/svg+xml"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    root = ElementTree.fromstring(response.data)
    assert root.tag == f"{SVG}svg"
    assert not list(root.iter(f"{SVG}script"))
    return root


def bar_labels(root: ElementTree.Element) -> list[str]:
    """The description pygal keeps on each bar (what it counts, and the count)."""
    return [d.text or "" for d in root.iter(f"{SVG}desc") if d.get("class") == "label"]


def test_a_weeks_tickets_per_day_are_drawn_by_category_with_the_table_beside(
    app, wechat, clock, accounts
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")  # Monday 23rd, 10:00 local
    wechat.say(ZHANG, "楼上邻居太吵了")
    clock.advance(days=2)
    wechat.say(ZHANG, "楼道灯不亮了")  # Wednesday 25th
    client = app.test_client()
    sign_in(client, "wangfang")
    query = "scope=grid:G1&period=week&date=2026-11-23"
    root = chart(client, "daily", query)
    labels = bar_labels(root)
    assert "2026-11-23 报修 1" in labels and "2026-11-23 邻里纠纷 1" in labels
    assert "2026-11-25 报修 1" in labels
    assert "2026-11-24 报修 0" in labels and "2026-11-29 邻里纠纷 0" in labels  # every day, zeros too
    assert len(labels) == 7 * 2  # the two categories opened that week, nothing else
    style = "".join(s.text or "" for s in root.iter(f"{SVG}style"))
    assert "WenQuanYi Micro Hei" in style  # Chinese labels use the console's fonts
    page = client.get(f"/console/reports?{query}")
    html = page.get_data(as_text=True)
    assert 'src="/console/reports/daily.svg?' in html
    shown = text(page)
    assert "每日新增工单" in shown and "11月23日 1 1 2" in shown and "11月25日 1 0 1" in shown
    assert "新增工单 3" in shown  # the tiles stay


def test_categories_and_rates_charts_carry_the_reports_figures(app, wechat, accounts) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(ZHANG, "楼上邻居太吵了")
    client = app.test_client()
    sign_in(client, "wangfang")
    act(client, 1, "resolve", text="修好了")
    query = "scope=grid:G1&period=day&date=2026-11-23"
    categories = bar_labels(chart(client, "categories", query))
    assert "报修 新增 1" in categories and "报修 办结 1" in categories and "邻里纠纷 新增 1" in categories
    rates = bar_labels(chart(client, "rates", query))
    assert "响应率 100%(1/1)" in rates
    # Nothing rated: no bar, and 暂无 in the table.
    assert not [label for label in rates if label.startswith("满意率")]
    assert "满意率 暂无 0/0" in text(client.get(f"/console/reports?{query}"))


def test_the_community_report_compares_its_grids_on_time(app, wechat, accounts) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(SUN, "马桶不下水")
    office = app.test_client()
    sign_in(office, "duty")
    worker = app.test_client()
    sign_in(worker, "wangfang")
    act(worker, 1, "resolve", text="修好了")
    query = "scope=community&period=day&date=2026-11-23"
    grids = bar_labels(chart(office, "grids", query))
    assert "第一网格 响应率 100%(1/1)" in grids and "第一网格 解决率 100%(1/1)" in grids
    assert not [label for label in grids if label.startswith("第三网格")]  # G3's ticket is not due yet
    shown = text(office.get(f"/console/reports?{query}"))
    assert "各网格按时率" in shown and "第一网格 100%(1/1) 100%(1/1)" in shown
    assert "第三网格 暂无(0/0) 暂无(0/0)" in shown
    assert "各网格按时率" not in text(office.get("/console/reports?scope=grid:G1&period=day&date=2026-11-23"))


def test_charts_keep_to_the_persons_scopes(app, wechat, accounts) -> None:
    wechat.say(SUN, "马桶不下水")
    worker = app.test_client()
    sign_in(worker, "wangfang")
    for name in ("daily", "categories", "rates", "grids"):
        for scope in ("grid:G3", "community", "grid:NOPE"):
            assert worker.get(f"/console/reports/{name}.svg?scope={scope}").status_code == 404, (name, scope)
    # One grid has nothing to compare with.
    assert worker.get("/console/reports/grids.svg?scope=grid:G1").status_code == 404
    assert worker.get("/console/reports/pie.svg?scope=grid:G1").status_code == 404
    assert worker.get("/console/reports/daily.svg?scope=grid:G1&date=yesterday").status_code == 400
    # The worker's own grid had no ticket: the chart says so rather than showing G3's.
    assert "报修" not in " ".join(bar_labels(chart(worker, "categories", "scope=grid:G1&period=week")))
    assert app.test_client().get("/console/reports/daily.svg?scope=grid:G1").status_code in (302, 303)
