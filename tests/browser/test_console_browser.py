"""The console in real headless Chromium (Debian's, driven by Playwright) on a phone-sized screen.

A real HTTP server on loopback serves the app; residents write through the webhook. Screenshots of the
board, a ticket and a report (375x812, an iPhone-sized screen) are kept under var/test-artifacts/browser.
"""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def phone(chromium) -> Iterator[object]:
    """A fresh phone-sized browser context (its own cookies), Chinese locale; nothing the CSP blocked."""
    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, locale="zh-CN", is_mobile=True)
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
    assert phone.locator(".bar").count() >= 5
    phone.select_option("select[name=period]", "week")
    phone.get_by_role("button", name="查看").click()
    phone.wait_for_selector("h1:has-text('周报')")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(artifacts / "report-worker-375x812.png"), full_page=True)
    with phone.expect_download() as download:
        phone.get_by_role("link", name="下载 Excel 报表").click()
    assert download.value.suggested_filename.endswith(".xlsx")
