"""和平里's console under /c/heping in real headless Chromium, on a desktop (1366x768) and a phone (390x844).

The street's whole WSGI app (bot/street.py Street.app: the first community at /, 和平里 under /c/heping)
runs on a real HTTP server on loopback, with the two communities of tests/e2e/street_support.py; 和平里's
residents write through its own signed webhook. Screenshots (heping-*.png) are kept under
var/test-artifacts/browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.qrcodes import png_bytes
from storage.db import transaction
from storage.models import Ticket
from tests.browser.test_console_browser import (  # noqa: F401 (fixtures)
    CHROMIUM,
    DESKTOP,
    PHONE_390,
    TIMEOUT_MS,
    artifacts,
    cards,
    charts_drawn,
    chromium,
    screen,
    table_rows,
)
from tests.e2e.console_support import PASSWORD, deliver, link_in, make_account
from tests.e2e.street_support import webhook
from tests.support import WeChatServer, on_loopback, send_saved_photo

CONSOLE = "/c/heping/console"
HE, MA = "heping-resident-he", "heping-resident-ma"  # 3号楼 (和平二网格, 吴磊), 1号楼 (和平一网格, 周敏)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed (/usr/bin/chromium); .ci/run installs it",
    ),
]


class _Deferred:
    """A WSGI app named once the server is up: the street is opened knowing the server's address."""

    def __init__(self) -> None:
        self.app = None

    def __call__(self, environ, start_response):
        """Pass the request on to the street's app."""
        return self.app(environ, start_response)


@pytest.fixture
def loopback() -> Iterator[tuple[str, _Deferred]]:
    """A real HTTP server on loopback, its app set by `server`."""
    deferred = _Deferred()
    with on_loopback(deferred) as base:
        yield base, deferred


@pytest.fixture
def street_environment(street_environment, loopback, monkeypatch) -> dict[str, str]:
    """The deployment's public address is the loopback server's: pushes carry links the browser opens."""
    monkeypatch.setenv("GRIDDESK_CONSOLE_BASE_URL", loopback[0])
    return street_environment | {"GRIDDESK_CONSOLE_BASE_URL": loopback[0]}


@dataclass
class Heping:
    """和平里 as the tests meet it: the server's address, its webhook, and its console's address."""

    base: str
    wechat: WeChatServer

    @property
    def console(self) -> str:
        """和平里's console, as the browser reaches it."""
        return self.base + CONSOLE


@pytest.fixture
def heping(street, loopback, clock) -> Heping:
    """The street served on loopback; 和平里's staff accounts, two tickets and a photo on #2."""
    base, deferred = loopback
    deferred.app = street.app
    runtime = street.runtime("heping")
    make_account(runtime.factory, clock, "钱志强", "qian", "leader")
    make_account(runtime.factory, clock, "和平里值班台", "duty", "community")
    wechat = webhook(street, "heping", clock)
    wechat.say(HE, "厨房水管漏水了,地上全是水")  # #1, 吴磊's
    wechat.say(MA, "楼道灯不亮了")  # #2, 周敏's
    photo = send_saved_photo(wechat, runtime.factory, runtime.settings.delivery.media_dir, MA)
    photo.write_bytes(png_bytes("和平里 1号楼 楼道灯", 4))  # a real picture the browser draws
    return Heping(base, wechat)


def sign_in(page, heping: Heping, login: str, start: str = "/") -> None:
    """Open a page of 和平里's console, get sent to its sign-in form, sign in, land on that page."""
    page.goto(heping.console + start)
    page.wait_for_url(f"{heping.console}/signin?**")
    page.get_by_label("用户名").fill(login)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(heping.console + start)


def refresh_target(page, heping: Heping) -> str:
    """Where the board's meta refresh takes the browser after its minute: 和平里's board, not main's."""
    content = page.locator("meta[http-equiv=refresh]").get_attribute("content") or ""
    assert content.startswith(f"60; url={CONSOLE}/"), content
    return heping.base + content.removeprefix("60; url=")


def photo_drawn(page) -> bool:
    """The ticket's photo was loaded and drawn (not a broken image), waited for: it loads lazily, so the
    page's load event does not wait for it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.locator("main img").first.scroll_into_view_if_needed()
    drawn = "() => { const i = document.querySelector('main img');"
    drawn += " return !!i && i.complete && i.naturalWidth > 0 }"
    try:
        page.wait_for_function(drawn, timeout=TIMEOUT_MS)
    except PlaywrightTimeout:
        return False
    return True


def test_heping_s_desk_on_a_desktop_searches_signs_in_bulk_counts_new_tickets_and_shows_a_photo(
    street, heping, chromium, artifacts  # noqa: F811 (fixtures)
) -> None:
    with screen(chromium, DESKTOP, mobile=False) as desk:
        sign_in(desk, heping, "duty")
        assert "和平里社区" in desk.title()
        assert desk.locator("table.tickets").is_visible() and not desk.locator(".cards").is_visible()
        assert sorted(table_rows(desk)) == ["#1", "#2"]

        desk.get_by_label("查找").fill("漏水")
        desk.get_by_role("button", name="筛选").click()
        desk.wait_for_url(f"{heping.console}/?q=**")
        assert table_rows(desk) == ["#1"]
        desk.get_by_label("查找").fill("")
        desk.get_by_role("button", name="筛选").click()
        desk.wait_for_url("**q=&**")

        desk.get_by_role("link", name="暂停自动刷新").click()
        desk.wait_for_url(f"{heping.console}/?**live=0**")
        desk.get_by_label("选择工单 #1").check()
        desk.get_by_label("选择工单 #2").check()
        desk.get_by_role("button", name="批量签收").click()
        desk.wait_for_selector("text=已签收 2 张工单")
        done = desk.locator(".note.done").inner_text()
        assert "#1" in done and "#2" in done
        assert desk.url.startswith(f"{heping.console}/?") and "live=0" in desk.url
        desk.screenshot(path=str(artifacts / "heping-desk-bulk-1366x768.png"), full_page=True)

        desk.get_by_role("link", name="恢复自动刷新").click()
        desk.wait_for_url(lambda url: "live=0" not in url)
        heping.wechat.say(HE, "电梯坏了,一直停在5楼")  # #3 comes in while the board is open
        desk.goto(refresh_target(desk, heping))
        desk.wait_for_selector("text=有 1 张新工单")
        assert desk.title().startswith("(1) 工单") and "#3" in table_rows(desk)
        desk.screenshot(path=str(artifacts / "heping-desk-new-ticket-1366x768.png"), full_page=True)

        desk.get_by_role("link", name="#2", exact=True).click()
        desk.wait_for_url(f"{heping.console}/tickets/2")
        assert photo_drawn(desk) and "马淑芬" in desk.inner_text("main")
        desk.screenshot(path=str(artifacts / "heping-ticket-photo-1366x768.png"), full_page=True)

        desk.get_by_role("link", name="报表").click()
        desk.wait_for_url(f"{heping.console}/reports")
        assert charts_drawn(desk) >= 1 and "和平" in desk.inner_text("main")
    with transaction(street.runtime("heping").factory) as session:
        assert [session.get(Ticket, n).status for n in (1, 2)] == ["acknowledged", "acknowledged"]


def test_heping_s_board_on_a_phone_opens_a_ticket_with_its_photo_searches_and_counts_new_tickets(
    street, heping, chromium, artifacts  # noqa: F811 (fixtures)
) -> None:
    with screen(chromium, PHONE_390, mobile=True) as phone:
        sign_in(phone, heping, "qian", start="/tickets/2")  # back to the page asked for, under /c/heping
        assert photo_drawn(phone) and "楼道灯不亮了" in phone.inner_text("main")
        phone.get_by_role("button", name="签收").click()
        phone.wait_for_selector("text=已签收工单 #2")
        assert phone.url == f"{heping.console}/tickets/2"
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
        phone.screenshot(path=str(artifacts / "heping-ticket-photo-390x844.png"), full_page=True)

        phone.get_by_role("link", name="工单", exact=True).click()
        phone.wait_for_url(f"{heping.console}/")
        assert phone.locator(".cards").is_visible() and not phone.locator("table.tickets").is_visible()
        phone.get_by_label("查找").fill("漏水")
        phone.get_by_role("button", name="筛选").click()
        phone.wait_for_url(f"{heping.console}/?q=**")
        assert cards(phone) == ["#1"]
        phone.goto(f"{heping.console}/")

        heping.wechat.say(MA, "1号楼电梯坏了")  # #3
        phone.goto(refresh_target(phone, heping))
        phone.wait_for_selector("text=有 1 张新工单")
        assert "#3" in cards(phone)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
        phone.screenshot(path=str(artifacts / "heping-board-new-ticket-390x844.png"), full_page=True)


def test_a_push_link_opens_heping_s_ticket_signed_in_on_a_phone(
    street, heping, chromium  # noqa: F811 (a fixture)
) -> None:
    [push] = [sent for sent in deliver(street.runtime("heping").app) if sent.recipient == "heping-worker-wu"]
    link = heping.base + "/c/heping" + link_in(push.text)
    assert f"网页处理:{link}" in push.text  # <console.base_url>/c/heping/console/go/<token>, as sent
    with screen(chromium, PHONE_390, mobile=True) as phone:
        phone.goto(link)
        phone.wait_for_url(f"{heping.console}/tickets/1")
        assert "网格员 吴磊" in phone.inner_text("header")
        assert phone.get_by_role("button", name="签收").is_visible()
        response = phone.goto(f"{heping.base}/console/")  # the first community's console: not signed in
        assert response is not None and phone.url.startswith(f"{heping.base}/console/signin")
