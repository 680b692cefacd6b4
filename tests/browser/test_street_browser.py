"""The street office's pages in real headless Chromium, on a desktop (1366x768) and a phone (390x844).

The whole street deployment's app (both communities, tests/e2e/street_support.py) is served on loopback;
residents write through each community's own webhook. Screenshots: var/test-artifacts/browser/street-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import test_console_browser as console_browser
from tests.browser.test_console_browser import DESKTOP, PASSWORD, PHONE_390, screen
from tests.e2e.console_support import make_account
from tests.e2e.street_support import webhook
from tests.support import on_loopback

# The console's browser tests' Chromium and screenshot folder (the street: tests/browser/conftest.py).
chromium, artifacts = console_browser.chromium, console_browser.artifacts
pytestmark = console_browser.pytestmark
SIZES = ((DESKTOP, "1366x768"), (PHONE_390, "390x844"))


@pytest.fixture
def served(street, clock) -> Iterator[str]:
    """The street's app on loopback with a ticket in each community and 和平里's signed for; its base URL."""
    home, heping = webhook(street, "main", clock), webhook(street, "heping", clock)
    home.say("demo-resident-liu", "卫生间水管漏水了")  # 幸福里 #1
    clock.advance(minutes=1)
    heping.say("heping-resident-he", "楼道灯坏了")  # 和平里 #1
    clock.advance(minutes=1)
    heping.say("heping-resident-ma", "暖气不热")  # 和平里 #2
    clock.advance(minutes=15)
    heping.say("heping-worker-wu", "签收 1")
    make_account(street.runtime("main").factory, clock, "孙街道", "jiedao", "street")
    with on_loopback(street.app) as base:
        yield base


def sign_in(page, base: str) -> None:
    """Sign in to the first community's console as the street office, then open the street tab."""
    page.goto(f"{base}/console/")
    page.get_by_label("用户名").fill("jiedao")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}/console/")
    page.get_by_role("link", name="街道", exact=True).click()
    page.wait_for_url(f"{base}/console/street")


def table_rows(page) -> list[tuple[str, str]]:
    """(community, ticket number) of each row of the cross-community table, top to bottom."""
    rows = page.locator("table.tickets tbody tr")
    return [
        (row.locator("td").nth(0).inner_text().strip(), row.locator("td.number").inner_text().strip())
        for row in rows.all()
    ]


def test_the_street_overview_on_a_desktop_and_a_phone(served, chromium, artifacts) -> None:
    for size, name in SIZES:
        with screen(chromium, size, mobile=size is PHONE_390) as page:
            sign_in(page, served)
            main = page.inner_text("main")
            assert "幸福里社区" in main and "和平里社区" in main and "16分钟" in main
            if size is DESKTOP:
                assert page.locator("table.tickets").is_visible() and not page.locator(".cards").is_visible()
                heping = page.locator("tr", has_text="和平里社区").inner_text().split()
                assert heping[:3] == ["和平里社区", "2", "0"]
            else:
                assert page.locator(".cards").is_visible()
                assert page.locator(".card", has_text="和平里社区").is_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]
            page.screenshot(path=str(artifacts / f"street-overview-{name}.png"), full_page=True)


def test_every_communitys_tickets_in_one_table_searched_and_sorted(served, chromium, artifacts) -> None:
    with screen(chromium, DESKTOP, mobile=False) as desk:
        sign_in(desk, served)
        desk.get_by_role("link", name="全部工单").click()
        desk.wait_for_url("**/console/street/tickets")
        assert sorted(table_rows(desk)) == [("和平里社区", "#1"), ("和平里社区", "#2"), ("幸福里社区", "#1")]

        desk.get_by_role("link", name="提交时间").click()
        desk.wait_for_url("**sort=opened**")
        assert table_rows(desk) == [("幸福里社区", "#1"), ("和平里社区", "#1"), ("和平里社区", "#2")]

        desk.get_by_label("查找").fill("尾号10102")  # 何文斌's phone, 和平里
        desk.get_by_role("button", name="筛选").click()
        desk.wait_for_url("**q=**")
        assert table_rows(desk) == [("和平里社区", "#1")]
        assert "sort=opened" in desk.url  # the sort is kept with the search
        assert desk.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
        desk.screenshot(path=str(artifacts / "street-tickets-1366x768.png"), full_page=True)

        desk.get_by_role("link", name="#1").click()
        desk.wait_for_url("**/console/street/heping/tickets/1")
        main = desk.inner_text("main")
        assert "楼道灯坏了" in main and "何文斌" in main and "13811110102" in main
        assert desk.get_by_role("button", name="办结").count() == 0  # read-only
    with screen(chromium, PHONE_390, mobile=True) as phone:
        sign_in(phone, served)
        phone.goto(f"{served}/console/street/tickets?community=heping")
        assert phone.locator(".cards").is_visible() and not phone.locator("table.tickets").is_visible()
        headings = [text.split()[:2] for text in phone.locator(".card .line1").all_inner_texts()]
        assert sorted(headings) == [["和平里社区", "#1"], ["和平里社区", "#2"]]
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
        phone.screenshot(path=str(artifacts / "street-tickets-390x844.png"), full_page=True)
        phone.goto(f"{served}/console/street/reports")
        phone.wait_for_selector("h1:has-text('街道日报')")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
        phone.screenshot(path=str(artifacts / "street-reports-390x844.png"), full_page=True)
