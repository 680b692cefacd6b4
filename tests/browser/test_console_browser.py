"""The console in real headless Chromium (Debian's, driven by Playwright) on phone and desktop screens.

A real HTTP server on loopback serves the app; residents write through the webhook. Screenshots of the
board, a ticket and reports with their charts (375x812 and 390x844, phone-sized screens) and of the desk's
table and a report (1366x768) and of the staff page and a binding code (375x812) are kept under
var/test-artifacts/browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from bot.app import create_app
from config.settings import PROJECT_ROOT
from storage.db import transaction
from storage.models import OutboxMessage, Ticket
from tests.e2e.console_support import PASSWORD, make_account, sent_link
from tests.support import WeChatServer, on_loopback

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 375, "height": 812}
ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts" / "browser"
# Generous: a loaded 2-core machine runs Chromium slowly; these are limits, not expected times.
TIMEOUT_MS = 30_000
ZHANG, LIU, SUN = "demo-resident-zhang", "demo-resident-liu", "demo-resident-sun"  # grids G1, G2, G3

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed (/usr/bin/chromium); .ci/run installs it",
    ),
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """One headless Chromium for the module (Playwright never downloads a browser here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """Where screenshots go; printed so a person can find them."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser test screenshots: {ARTIFACTS}")
    return ARTIFACTS


@pytest.fixture
def server(settings, factory, classifier) -> Iterator[tuple[str, Flask]]:
    """The app on a real HTTP server on loopback, with the real clock; yields its base URL and the app."""
    app = create_app(settings, factory, classifier)
    with on_loopback(app) as base:
        yield base, app


@pytest.fixture
def community(server, settings, factory, clock) -> WeChatServer:
    """Accounts for 王芳 (worker, G1; AB岗 of G2) and 周强 (leader of G3), and one ticket per grid."""
    make_account(factory, clock, "王芳", "wangfang", "worker")
    make_account(factory, clock, "周强", "zhouqiang", "leader", ("G3",))
    wechat = WeChatServer(server[1].test_client(), settings.wechat)
    wechat.say(ZHANG, "卫生间水管漏水了")  # #1, G1
    wechat.say(LIU, "帮忙交一下水电费")  # #2, G2
    wechat.say(SUN, "马桶不下水")  # #3, G3
    return wechat


@contextmanager
def screen(chromium, viewport: dict[str, int], mobile: bool, scale: int = 1) -> Iterator[object]:
    """A fresh browser context of one screen size (its own cookies), Chinese locale; nothing the CSP
    blocked."""
    context = chromium.new_context(
        viewport=viewport, device_scale_factor=scale, locale="zh-CN", is_mobile=mobile
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    blocked: list[str] = []

    def note_blocked(message) -> None:
        if "Content Security Policy" in message.text:
            blocked.append(message.text)

    page.on("console", note_blocked)
    try:
        yield page
    finally:
        context.close()
    assert blocked == [], blocked


@pytest.fixture
def phone(chromium) -> Iterator[object]:
    """A fresh phone-sized browser context (375x812, sharp screenshots)."""
    with screen(chromium, PHONE, mobile=True, scale=2) as page:
        yield page


def sign_in(page, base: str, login: str) -> None:
    """Open the console, get sent to the sign-in form, fill it in, land on the board."""
    page.goto(f"{base}/console/")
    page.get_by_label("用户名").fill(login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/console/")


def cards(page) -> list[str]:
    """The ticket numbers on the board, top to bottom."""
    return [text.split()[0] for text in page.locator(".card .line1").all_inner_texts()]


def test_a_worker_signs_in_sees_their_grids_signs_and_resolves_a_ticket(
    server, community, phone, factory, artifacts
) -> None:
    base, _ = server
    sign_in(phone, base, "wangfang")
    assert sorted(cards(phone)) == ["#1", "#2"]
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(artifacts / "board-worker-375x812.png"), full_page=True)

    phone.locator(".card", has_text="#1").click()
    phone.wait_for_url(f"{base}/console/tickets/1")
    assert "张秀兰" in phone.inner_text("main") and "13800000101" in phone.inner_text("main")
    phone.get_by_role("button", name="签收").click()
    phone.wait_for_selector("text=已签收工单 #1")
    phone.get_by_label("处理说明").fill("阀门已更换")
    phone.get_by_role("button", name="办结").click()
    phone.wait_for_selector("text=工单 #1 已办结,已请居民评价")
    told = phone.locator("section", has_text="已告知居民").inner_text()
    assert "已由网格员王芳签收" in told and "已办结:阀门已更换" in told
    phone.screenshot(path=str(artifacts / "ticket-resolved-375x812.png"), full_page=True)

    with transaction(factory) as session:
        assert session.get(Ticket, 1).status == "resolved"
        outbox = session.scalars(select(OutboxMessage.text).where(OutboxMessage.recipient == ZHANG)).all()
    assert any("已办结:阀门已更换" in text and "回复 1 满意" in text for text in outbox)

    phone.goto(f"{base}/console/tickets/3")
    assert "不在您负责的网格" in phone.inner_text("main")


def test_a_leader_sees_only_the_grid_they_lead(server, community, phone) -> None:
    base, _ = server
    sign_in(phone, base, "zhouqiang")
    assert cards(phone) == ["#3"]
    phone.get_by_role("link", name="问候走访").click()
    phone.wait_for_url(f"{base}/console/checkins")
    assert "第三网格" in phone.inner_text("main") and "第一网格" not in phone.inner_text("main")
    response = phone.goto(f"{base}/console/tickets/1")
    assert response is not None and response.status == 404


def test_a_push_link_opens_the_ticket_signed_in(server, settings, factory, classifier, chromium) -> None:
    base, _ = server
    # The pushes name the server the browser reaches (console.base_url).
    linked = replace(settings, console=replace(settings.console, base_url=base))
    pushing = create_app(linked, factory, classifier)
    WeChatServer(pushing.test_client(), settings.wechat).say(ZHANG, "卫生间水管漏水了")
    link = base + sent_link(pushing, "demo-worker-wang")  # as the dispatcher sent it
    context = chromium.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(link)
        page.wait_for_url(f"{base}/console/tickets/1")
        assert "网格员 王芳" in page.inner_text("header")
        assert page.get_by_role("button", name="签收").is_visible()
    finally:
        context.close()


def test_a_worker_reads_a_report(server, community, phone, artifacts) -> None:
    base, _ = server
    sign_in(phone, base, "wangfang")
    phone.get_by_role("link", name="报表").click()
    phone.wait_for_url(f"{base}/console/reports")
    main = phone.inner_text("main")
    assert "日报" in main and "第一网格" in main and "新增工单" in main and "响应率" in main
    assert charts_drawn(phone) == 2  # rates and categories on a day's report
    phone.select_option("select[name=period]", "week")
    phone.get_by_role("button", name="查看").click()
    phone.wait_for_selector("h1:has-text('周报')")
    assert charts_drawn(phone) == 3  # and tickets per day on a week's
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(artifacts / "report-worker-375x812.png"), full_page=True)
    with phone.expect_download() as download:
        phone.get_by_role("link", name="下载 Excel 报表").click()
    assert download.value.suggested_filename.endswith(".xlsx")


def charts_drawn(page) -> int:
    """How many report charts the browser loaded and drew; fails if any image came back broken."""
    page.wait_for_load_state("load")  # the images, after the page itself
    sizes = page.eval_on_selector_all(".chart img", "images => images.map(i => i.complete && i.naturalWidth)")
    assert all(sizes), sizes
    return len(sizes)


def test_the_community_reads_a_months_report_with_charts_on_desktop_and_phone(
    server, community, chromium, factory, clock, artifacts
) -> None:
    base, _ = server
    make_account(factory, clock, "社区值班台", "duty", "community")
    community.say("demo-worker-wang", "签收 1")
    for size, name in ((DESKTOP, "1366x768"), (PHONE_390, "390x844")):
        with screen(chromium, size, mobile=size is PHONE_390) as page:
            sign_in(page, base, "duty")
            page.goto(f"{base}/console/reports?scope=community&period=month")
            page.wait_for_selector("h1:has-text('月报')")
            assert charts_drawn(page) == 4  # rates, tickets per day, categories, the grids side by side
            main = page.inner_text("main")
            assert "每日新增工单" in main and "各网格按时率" in main and "第一网格" in main
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
            page.screenshot(path=str(artifacts / f"report-community-{name}.png"), full_page=True)


# The board as a desk: a table on a desktop, today's cards on a phone (issue 17).

DESKTOP = {"width": 1366, "height": 768}
PHONE_390 = {"width": 390, "height": 844}


def table_rows(page) -> list[str]:
    """The ticket numbers in the desk's table, top to bottom."""
    return [text.strip() for text in page.locator("table.tickets td.number").all_inner_texts()]


def refresh_target(page, base: str) -> str:
    """Where the board's meta refresh takes the browser after its minute."""
    content = page.locator("meta[http-equiv=refresh]").get_attribute("content") or ""
    assert content.startswith("60; url=/console/"), content
    return base + content.removeprefix("60; url=")


def test_a_leader_at_a_desktop_searches_sorts_and_signs_for_tickets_in_bulk(
    server, community, chromium, factory, clock, artifacts
) -> None:
    base, _ = server
    make_account(factory, clock, "社区值班台", "duty", "community")
    community.say("demo-worker-wang", "签收 1")
    with screen(chromium, DESKTOP, mobile=False) as desk:
        sign_in(desk, base, "duty")
        assert desk.locator("table.tickets").is_visible() and not desk.locator(".cards").is_visible()
        assert sorted(table_rows(desk)) == ["#1", "#2", "#3"]

        desk.get_by_label("查找").fill("马桶")
        desk.get_by_role("button", name="筛选").click()
        desk.wait_for_url("**q=**")
        assert table_rows(desk) == ["#3"]
        desk.get_by_label("查找").fill("")
        desk.get_by_role("button", name="筛选").click()
        desk.wait_for_url("**q=&**")  # an empty search: every ticket again

        desk.get_by_role("link", name="工单号").click()
        desk.wait_for_url("**sort=number**")
        assert table_rows(desk) == ["#1", "#2", "#3"]
        desk.get_by_role("link", name="工单号 ▲").click()
        desk.wait_for_url("**sort=-number**")
        assert table_rows(desk) == ["#3", "#2", "#1"]

        desk.get_by_role("link", name="暂停自动刷新").click()  # the ticks survive the minute
        desk.wait_for_url("**live=0**")
        assert desk.locator("meta[http-equiv=refresh]").count() == 0
        desk.get_by_label("选择工单 #1").check()
        desk.get_by_label("选择工单 #2").check()
        desk.get_by_role("button", name="批量签收").click()
        desk.wait_for_selector("text=已签收 1 张工单:#2")
        refused = desk.locator(".note.refused").inner_text()
        assert "1 张没有签收" in refused and "工单 #1 当前状态是“已签收”,不能签收。" in refused
        assert "sort=-number" in desk.url and "live=0" in desk.url  # back on the same board
        assert desk.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
        desk.screenshot(path=str(artifacts / "desk-bulk-1366x768.png"), full_page=True)
        desk.get_by_label("选择工单 #3").check()
        desk.get_by_label("转派给").select_option("王芳")
        desk.get_by_role("button", name="批量转派").click()
        desk.wait_for_selector("text=已把 1 张工单转派给网格员王芳:#3")

        desk.get_by_role("link", name="恢复自动刷新").click()
        desk.wait_for_url(lambda url: "live=0" not in url)
        community.say(ZHANG, "电梯坏了,一直停在5楼")  # #4 comes in while the board is open
        desk.goto(refresh_target(desk, base))
        desk.wait_for_selector("text=有 1 张新工单")
        assert desk.title().startswith("(1) 工单") and table_rows(desk)[0] == "#4"
        desk.screenshot(path=str(artifacts / "desk-new-ticket-1366x768.png"), full_page=True)
    with transaction(factory) as session:
        holders = [session.get(Ticket, number).assignee.name for number in (1, 2, 3)]
    assert holders == ["王芳", "社区值班台", "王芳"]


def test_on_a_phone_the_board_stays_cards_with_search_sort_and_the_new_count(
    server, community, chromium, factory, clock, artifacts
) -> None:
    base, _ = server
    make_account(factory, clock, "社区值班台", "duty", "community")
    with screen(chromium, PHONE_390, mobile=True) as phone:
        sign_in(phone, base, "duty")
        assert phone.locator(".cards").is_visible() and not phone.locator("table.tickets").is_visible()
        assert not phone.get_by_role("button", name="批量签收").is_visible()
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]

        phone.get_by_label("查找").fill("漏水")
        phone.get_by_role("button", name="筛选").click()
        phone.wait_for_url("**q=**")
        assert cards(phone) == ["#1"]
        phone.goto(f"{base}/console/tickets?sort=-number")  # a desk's sorted link, opened on a phone
        assert cards(phone) == ["#3", "#2", "#1"]

        community.say(LIU, "电梯坏了")  # #4
        phone.goto(refresh_target(phone, base))
        phone.wait_for_selector("text=有 1 张新工单")
        assert cards(phone)[0] == "#4"
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
        phone.screenshot(path=str(artifacts / "board-new-ticket-390x844.png"), full_page=True)


def test_the_community_office_brings_a_worker_in_from_the_staff_page_on_a_phone(
    server, community, phone, factory, clock, artifacts
) -> None:
    base, _ = server
    make_account(factory, clock, "社区值班台", "duty", "community")
    sign_in(phone, base, "duty")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # five tabs fit
    phone.get_by_role("link", name="人员").click()
    phone.wait_for_url(f"{base}/console/staff")
    assert "第一网格" in phone.inner_text("main") and "已绑定微信" in phone.inner_text("main")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(artifacts / "staff-community-375x812.png"), full_page=True)

    phone.get_by_role("link", name="新增人员").click()
    phone.get_by_label("姓名").fill("孙丽")
    phone.get_by_label("第三网格").check()
    phone.get_by_label("接替现有人员").check()
    phone.get_by_role("button", name="生成绑定码").click()
    phone.wait_for_url(f"{base}/console/staff/invites/*")
    shown = phone.inner_text("main")
    code = shown.split("绑定 ")[1][:8]
    assert code.isalnum() and "只能使用一次" in shown
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(artifacts / "staff-invite-code-375x812.png"), full_page=True)
    assert "绑定成功" in community.say("o-sunli", f"绑定 {code}")
    phone.goto(f"{base}/console/staff")
    assert "孙丽" in phone.inner_text("main")
