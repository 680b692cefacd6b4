"""和平里's console under /c/heping works as the first community's does at /console (docs/tenancy.md):
every page, form, link, image and download stays under the prefix, signing in goes back where the person
was heading, and a push's one-time link signs a 和平里 worker in to 和平里's console."""

from __future__ import annotations

import re
from collections import deque
from datetime import timedelta
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select
from werkzeug.test import Client, TestResponse

from handlers.domain_settings import DomainSettings
from handlers.jobs.reports import push_reports
from storage.db import transaction
from storage.models import InboundMessage
from storage.repositories.reports import first_resident_at
from tests.cli import run_in_process
from tests.conftest import tickets
from tests.e2e.console_support import BASE_URL, PASSWORD, csrf, deliver, link_in, make_account, sign_in, text
from tests.e2e.street_support import browser, sign_in_at, webhook
from tests.support import send_saved_photo

MOUNT = "/c/heping"
CONSOLE = f"{MOUNT}/console"
HE, MA = "heping-resident-he", "heping-resident-ma"  # 3号楼 (和平二网格, 吴磊), 1号楼 (和平一网格, 周敏)
REPORTS_SITE = "https://reports.example.org"
CARDS_CONSOLE = "https://desk.example.org/console"
# Every address a page names: links, forms, images, sounds, stylesheets, and the meta refresh's.
_ADDRESSES = re.compile(r'(?:href|src|action)="([^"]*)"|http-equiv="refresh" content="\d+; url=([^"]*)"')


@pytest.fixture
def street_environment(street_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The deployment with public addresses set: pushes carry sign-in links, reports and cards link back."""
    addresses = {
        "GRIDDESK_CONSOLE_BASE_URL": BASE_URL,
        "GRIDDESK_REPORTS_CONSOLE_BASE_URL": REPORTS_SITE,
        "GRIDDESK_DELIVERY_CONSOLE_URL": CARDS_CONSOLE,
    }
    for name, value in addresses.items():
        monkeypatch.setenv(name, value)
    return street_environment | addresses


@pytest.fixture
def heping(street, clock):
    """和平里's webhook, two tickets (#1 吴磊's, #2 周敏's) and console accounts for its leader and office."""
    factory = street.runtime("heping").factory
    make_account(factory, clock, "钱志强", "qian", "leader")
    make_account(factory, clock, "和平里值班台", "duty", "community")
    wechat = webhook(street, "heping", clock)
    wechat.say(HE, "厨房水管漏水了,地上全是水")
    wechat.say(MA, "楼道灯不亮了")
    return wechat


def signed_in(street, login: str) -> Client:
    """A browser signed in to 和平里's console."""
    client = browser(street)
    assert sign_in_at(client, MOUNT, login).status_code == 302
    return client


def addresses(response: TestResponse) -> list[str]:
    """Every address the page names, as the browser resolves it against the page (tel: links left out)."""
    return addresses_in(response.request.path, response.get_data(as_text=True))


def addresses_in(path: str, page: str) -> list[str]:
    """Every address a page at this path names, resolved against it."""
    found = [unescape(a or b) for a, b in _ADDRESSES.findall(page)]
    return [urljoin(path, a) for a in found if not a.startswith(("tel:", "#"))]


def test_a_push_link_signs_a_heping_worker_in_to_heping_s_console_at_the_ticket(street, heping) -> None:
    [push] = [sent for sent in deliver(street.runtime("heping").app) if sent.recipient == "heping-worker-wu"]
    line = next(line for line in push.text.splitlines() if line.startswith("网页处理:"))
    assert line.startswith(f"网页处理:{BASE_URL}{CONSOLE}/go/"), line
    link = MOUNT + link_in(push.text)
    client = browser(street)

    assert client.get(link.removeprefix(MOUNT)).status_code == 410  # the first community's door: no such link
    opened = client.get(link)

    assert opened.status_code == 302 and opened.headers["Location"] == f"{CONSOLE}/tickets/1"
    page = text(client.get(f"{CONSOLE}/tickets/1"))
    assert "网格员 吴磊" in page and "厨房水管漏水了" in page
    assert client.get("/console/").status_code == 302  # signed in to 和平里's console only
    assert client.get(link).status_code == 410  # once


def test_signing_in_from_a_heping_page_goes_back_to_that_page(street, heping) -> None:
    client = browser(street)
    sent_away = client.get(f"{CONSOLE}/tickets/2")
    form_page = client.get(sent_away.headers["Location"])
    [kept] = re.findall(r'name="next" value="([^"]*)"', form_page.get_data(as_text=True))

    signed = sign_in_at(client, MOUNT, "qian", next=unescape(kept))  # the form as the browser sends it

    assert signed.headers["Location"] == f"{CONSOLE}/tickets/2"
    assert "楼道灯不亮了" in text(client.get(signed.headers["Location"]))


def test_every_address_on_heping_s_pages_stays_under_c_heping_and_answers(street, heping, clock) -> None:
    runtime = street.runtime("heping")
    send_saved_photo(heping, runtime.factory, runtime.settings.delivery.media_dir, MA)
    client = signed_in(street, "duty")
    start = [f"{MOUNT}/", f"{CONSOLE}/reports?period=week", f"{CONSOLE}/reports?scope=community"]
    queue, seen, posted, fetched = deque(start), set(start), set(), 0
    while queue:
        path = queue.popleft()
        response = client.get(path)
        body = response.get_data()
        response.close()  # a photo is a file
        page = body.decode() if response.mimetype == "text/html" else ""
        assert response.status_code == 200, path
        fetched += 1
        forms = set(re.findall(r'<form method="post" action="([^"]*)"', page))
        posted |= forms
        for address in addresses_in(path, page):
            where = urlsplit(address)
            assert not where.netloc and where.path.startswith(f"{CONSOLE}/"), f"{path} names {address}"
            if address not in seen and address not in forms and len(seen) < 80:
                seen.add(address)
                queue.append(address)

    names = {urlsplit(a).path.removeprefix(CONSOLE) for a in seen | posted}
    assert {"/tickets/2", "/static/console.css", "/checkins", "/notices", "/reports.xlsx"} <= names
    assert {"/tickets/bulk", "/signout", "/notices"} <= names and any(n.startswith("/media/") for n in names)
    assert any(n.startswith("/reports/") and n.endswith(".svg") for n in names) and fetched > 20
    for missing in (f"{CONSOLE}/no-such-page", f"{MOUNT}/no-such-page", f"{CONSOLE}/tickets/99"):
        answer = client.get(missing)
        assert answer.status_code == 404 and addresses(answer), missing
        assert all(a.startswith(f"{CONSOLE}/") for a in addresses(answer)), (missing, addresses(answer))


def test_a_bulk_sign_for_in_heping_s_desk_comes_back_to_heping_s_board(street, heping) -> None:
    client = signed_in(street, "duty")
    token = csrf(client, f"{CONSOLE}/")
    form = {"csrf_token": token, "action": "acknowledge", "ticket": ["1", "2"], "back": "sort=-number&live=0"}

    done = client.post(f"{CONSOLE}/tickets/bulk", data=form)

    assert done.headers["Location"] == f"{CONSOLE}/?sort=-number&live=0"
    board = text(client.get(done.headers["Location"]))
    assert "已签收 2 张工单:#1、#2" in board
    assert [t.status for t in tickets(street.runtime("heping").factory)] == ["acknowledged"] * 2


def test_heping_s_board_counts_a_new_ticket_when_a_resident_writes(street, heping) -> None:
    client = signed_in(street, "qian")
    board = client.get(f"{CONSOLE}/")
    [refresh] = [a for a in addresses(board) if "seen=" in a and "live=0" not in a]
    assert refresh.startswith(f"{CONSOLE}/?") and "seen=2" in refresh

    heping.say(HE, "电梯坏了,一直停在5楼")  # #3
    again = text(client.get(refresh))

    assert "有 1 张新工单" in again and "电梯坏了" in again


def test_a_photo_on_a_heping_ticket_is_served_under_c_heping_and_not_by_the_first_community(
    street, heping, clock
) -> None:
    runtime = street.runtime("heping")
    photo = send_saved_photo(heping, runtime.factory, runtime.settings.delivery.media_dir, MA)
    with transaction(runtime.factory) as session:
        message = session.scalars(select(InboundMessage).where(InboundMessage.msg_type == "image")).one()
        assert message.ticket_id == 2
        message_id = message.id
    client = signed_in(street, "qian")

    assert f"{CONSOLE}/media/{message_id}" in addresses(client.get(f"{CONSOLE}/tickets/2"))
    served = client.get(f"{CONSOLE}/media/{message_id}")
    body = served.get_data()
    served.close()
    assert served.status_code == 200 and body == photo.read_bytes()
    make_account(street.runtime("main").factory, clock, "赵建国", "zhao", "leader")
    home = browser(street)
    sign_in(home, "zhao")
    assert home.get(f"/console/media/{message_id}").status_code == 404  # main has no such message


def test_signing_out_of_heping_s_console_stays_under_c_heping(street, heping) -> None:
    client = signed_in(street, "qian")
    token = csrf(client, f"{CONSOLE}/")

    out = client.post(f"{CONSOLE}/signout", data={"csrf_token": token})

    assert out.headers["Location"] == f"{CONSOLE}/signin"
    assert f"Path={CONSOLE}" in out.headers["Set-Cookie"]
    assert client.get(f"{CONSOLE}/tickets/1").headers["Location"].startswith(f"{CONSOLE}/signin?next=")


def test_heping_s_report_pushes_and_wecom_cards_link_to_heping_s_console(street, heping, clock) -> None:
    heping_settings, home_settings = street.runtime("heping").settings, street.runtime("main").settings
    factory = street.runtime("heping").factory
    with transaction(factory) as session:
        registered = first_resident_at(session)  # 和平里's demo was loaded as it was added, at real time
    clock.now = registered + timedelta(days=1, hours=12)  # a day's report since is due to each grid's leader

    pushed = push_reports(factory, DomainSettings.of(heping_settings), clock())

    assert pushed.total > 0
    reports = [sent.text for sent in deliver(street.runtime("heping").app) if sent.kind == "report_daily"]
    assert reports and all(f"{REPORTS_SITE}{CONSOLE}/reports?scope=grid:H" in t for t in reports), reports
    assert heping_settings.delivery.console_url == f"https://desk.example.org{CONSOLE}"
    assert home_settings.delivery.console_url == CARDS_CONSOLE  # the first community's, where it was
    assert home_settings.reports.console_base_url == REPORTS_SITE



def test_staff_add_for_heping_names_heping_s_console_and_its_account_signs_in_there(
    street, street_environment
) -> None:
    add = ("staff", "add", "--name", "周敏", "--login", "zhoumin", "--password-stdin")

    added = run_in_process(street_environment, "--community", "heping", *add, stdin=f"{PASSWORD}\n")

    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().endswith(f"created (worker), at {CONSOLE}")
    assert sign_in_at(browser(street), MOUNT, "zhoumin").headers["Location"] == f"{CONSOLE}/"
