"""The console against an attacker: guess storms, stolen cookies and databases, hostile media, odd URLs."""

from __future__ import annotations

import re
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.media_store import download_pending_media
from bot.wechat_api import official_account_client
from config.settings import Settings
from storage.db import transaction
from storage.models import ConsoleSession, InboundMessage, OutboxMessage
from tests.cli import Ran, run_in_process
from tests.conftest import command_env
from tests.e2e.console_support import (
    BASE_URL,
    PASSWORD,
    console_settings,
    csrf,
    make_account,
    sent_link,
    sign_in,
    text,
)
from tests.fakewechat import FakeWeChat
from tests.integration.conftest import live_settings

ZHANG = "demo-resident-zhang"
WANG = "demo-worker-wang"
GUESSES = 30
ANY_LINK = re.compile(r"/console/go/[^\s]+")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Sandbox settings with the console's public address set."""
    return console_settings(tmp_path)


@pytest.fixture
def accounts(factory, clock) -> None:
    """王芳 (grid worker of G1) and the community desk."""
    make_account(factory, clock, "王芳", "wangfang", "worker")
    make_account(factory, clock, "社区值班台", "duty", "community")


def storm(app, attempts: list[tuple[str, str]]) -> Counter[str]:
    """Send every (login, password) at once from one address; how the console answered, by kind."""
    clients = [app.test_client() for _ in attempts]
    tokens = [csrf(client) for client in clients]
    start = threading.Barrier(len(attempts))
    answers: list[str] = [""] * len(attempts)

    def guess(index: int) -> None:
        login, password = attempts[index]
        form = {"login": login, "password": password, "csrf_token": tokens[index]}
        start.wait()
        response = clients[index].post("/console/signin", data=form)
        page = text(response)
        if response.status_code == 302:
            answers[index] = "signed in"
        elif "用户名或密码不正确" in page:
            answers[index] = "checked, wrong"
        elif "登录失败次数过多" in page:
            answers[index] = "locked"
        else:
            answers[index] = f"{response.status_code} {page[:80]}"

    threads = [threading.Thread(target=guess, args=(index,)) for index in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Counter(answers)


# The sign-in throttle under simultaneous guesses


def test_thirty_simultaneous_guesses_get_five_checked_and_then_the_right_password_is_locked_out(
    app, accounts
) -> None:
    answers = storm(app, [("wangfang", f"guess-{n}-password") for n in range(GUESSES)])
    assert set(answers) <= {"checked, wrong", "locked"}, answers
    assert answers["checked, wrong"] <= 5 and answers["locked"] >= GUESSES - 5
    late = app.test_client()
    assert "登录失败次数过多" in text(sign_in(late, "wangfang"))
    assert late.get("/console/").status_code == 302


def test_the_right_password_in_a_storm_is_checked_among_the_first_five_or_locked_out(
    app, accounts
) -> None:
    attempts = [("wangfang", f"guess-{n}-password") for n in range(GUESSES)]
    attempts[GUESSES // 2] = ("wangfang", PASSWORD)
    answers = storm(app, attempts)
    assert set(answers) <= {"checked, wrong", "locked", "signed in"}, answers
    # A right password forgives the login's tries, as it must for someone who mistyped, so the guesses
    # counted after it get one more window: at most 4 wrong before it and 5 after, never more.
    assert answers["checked, wrong"] <= (9 if answers["signed in"] else 5), answers


def test_simultaneous_guesses_at_many_logins_get_twenty_checked_from_one_address(app, accounts) -> None:
    answers = storm(app, [(f"guess{n}", "guess-password") for n in range(GUESSES)])
    assert answers["checked, wrong"] <= 20 and answers["locked"] >= GUESSES - 20, answers


# Sessions end on the server


def test_signing_out_ends_the_session_for_a_copied_cookie_too(app, accounts, factory) -> None:
    client = app.test_client()
    sign_in(client, "wangfang")
    copied = client.get_cookie("griddesk_console", path="/console").value
    with transaction(factory) as session:
        assert all(copied not in row.token_hash for row in session.scalars(select(ConsoleSession)))
    client.post("/console/signout", data={"csrf_token": csrf(client, "/console/")})
    thief = app.test_client()
    thief.set_cookie("griddesk_console", copied, path="/console")
    assert thief.get("/console/").status_code == 302


def staff_command(tmp_path: Path, *args: str, password: str | None = None) -> Ran:
    """`run.py staff ...` on the test's database, the password on standard input."""
    stdin = ["--password-stdin"] if password is not None else []
    return run_in_process(
        command_env(tmp_path / "griddesk.db"),
        "staff",
        *args,
        *stdin,
        stdin=f"{password}\n" if password is not None else None,
    )


def test_staff_disable_ends_push_link_sessions_and_no_link_signs_in_until_enabled(
    app, wechat, accounts, tmp_path
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    by_link = app.test_client()
    assert by_link.get(sent_link(app, WANG)).status_code == 302
    wechat.say(ZHANG, "想咨询一下低保怎么办理")
    unopened = sent_link(app, WANG)
    assert staff_command(tmp_path, "disable", "wangfang").returncode == 0
    assert by_link.get("/console/").status_code == 302
    assert app.test_client().get(unopened).status_code == 410
    wechat.say(ZHANG, "楼上邻居太吵了")  # a push after the account was disabled
    assert app.test_client().get(sent_link(app, WANG)).status_code == 410
    assert staff_command(tmp_path, "enable", "wangfang").returncode == 0
    wechat.say(ZHANG, "帮忙交一下水电费")
    assert app.test_client().get(sent_link(app, WANG)).status_code == 302


def test_staff_password_ends_every_session_and_unused_link_but_later_links_work(
    app, wechat, accounts, tmp_path
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    by_link, by_password = app.test_client(), app.test_client()
    assert by_link.get(sent_link(app, WANG)).status_code == 302
    sign_in(by_password, "wangfang")
    wechat.say(ZHANG, "想咨询一下低保怎么办理")
    unopened = sent_link(app, WANG)
    changed = staff_command(tmp_path, "password", "wangfang", password="a new long passphrase")
    assert changed.returncode == 0, changed.stderr
    assert by_link.get("/console/").status_code == 302
    assert by_password.get("/console/").status_code == 302
    assert app.test_client().get(unopened).status_code == 410
    wechat.say(ZHANG, "楼上邻居太吵了")
    assert app.test_client().get(sent_link(app, WANG)).status_code == 302


# Reading the database signs nobody in


def stored_links(factory) -> list[str]:
    """Every console link written anywhere in the outbox's text."""
    with transaction(factory) as session:
        texts = session.scalars(select(OutboxMessage.text)).all()
    return [found for push in texts for found in ANY_LINK.findall(push)]


def test_the_outbox_never_holds_a_link_that_signs_in_before_or_after_sending(app, wechat, factory) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    queued = stored_links(factory)
    assert queued, "the worker's push has a link placeholder"
    sent = sent_link(app, WANG)
    for path in [*queued, *stored_links(factory)]:
        response = app.test_client().get(path)
        assert response.status_code in (404, 410), path
    assert app.test_client().get(sent).status_code == 302


def test_upgrading_takes_raw_links_out_of_the_outbox_and_links_already_sent_still_open(
    app, wechat, factory
) -> None:
    from alembic import command
    from alembic.config import Config

    from storage.db import MIGRATIONS

    wechat.say(ZHANG, "卫生间水管漏水了")
    path = sent_link(app, WANG)
    with transaction(factory) as session:  # the push as revisions before 0014 stored it: the raw link
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == WANG))
        row.text = ANY_LINK.sub(path, row.text)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with factory.kw["bind"].begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0013")  # the revision before the console's sessions and placeholders
        command.upgrade(config, "head")
    assert [link.startswith("/console/go/{link:") for link in stored_links(factory)] == [True]
    assert app.test_client().get(path).status_code == 302  # the link in the worker's phone still opens


def test_a_leaders_alert_quoting_a_workers_failed_push_carries_no_link_that_signs_in_as_the_worker(
    app, wechat, factory, tmp_path, clock
) -> None:
    from bot.channels import build_messenger
    from bot.dispatcher import dispatch_due
    from config.settings import DispatcherSettings
    from tests.integration.conftest import TEMPLATE_IDS

    policy = DispatcherSettings(
        interval_seconds=1, batch_size=50, max_attempts=2, backoff_seconds=10, lease_seconds=60
    )
    fake = FakeWeChat(templates=TEMPLATE_IDS.values()).start()
    try:
        messenger = build_messenger(
            live_settings(tmp_path, fake, GRIDDESK_CONSOLE_BASE_URL=BASE_URL), factory, clock
        )
        fake.go_down("5xx")
        wechat.say(ZHANG, "家里着火了")  # pages 王芳 and her leader 赵建国, each with their own link
        for _ in range(policy.max_attempts):
            dispatch_due(factory, messenger, policy, clock())
            clock.advance(minutes=10)
        fake.come_back()
        assert dispatch_due(factory, messenger, policy, clock()).sent == 2
    finally:
        fake.stop()
    # The leader hears about 王芳's push, the duty desk about the leader's: never with the other's link.
    assert sorted(alert.to for alert in fake.sent) == ["demo-community-duty", "demo-leader-zhao"]
    for alert in fake.sent:
        assert "/console/go/" not in str(alert.payload), alert.payload
        assert f"{BASE_URL}/console/tickets/1" in str(alert.payload)


# Odd URLs are answered, never a 500


@pytest.mark.parametrize(
    "target",
    [
        "/console/tickets\r\nSet-Cookie: planted=1",
        "/console/\nLocation: https://evil.test",
        "//evil.test/console/",
        "/console/../wechat",
        "/console/%2e%2e/wechat",
        "https://evil.test/console/",
        "/console/tickets\\@evil.test",
        "/console/票据",
    ],
)
def test_a_next_that_is_not_a_plain_console_path_lands_on_the_board(app, accounts, target) -> None:
    client = app.test_client()
    form = {"login": "wangfang", "password": PASSWORD, "csrf_token": csrf(client), "next": target}
    response = client.post("/console/signin", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    assert "planted" not in str(response.headers)


def test_a_plain_console_path_with_a_query_is_kept_as_next(app, accounts) -> None:
    client = app.test_client()
    target = "/console/tickets?status=all&grid=G1"
    form = {"login": "wangfang", "password": PASSWORD, "csrf_token": csrf(client), "next": target}
    assert client.post("/console/signin", data=form).headers["Location"] == target


@pytest.mark.parametrize("number", ["99999999999999999999999", str(2**63), str(2**31), "0"])
def test_ids_no_row_can_have_are_not_found(app, accounts, number) -> None:
    client = app.test_client()
    sign_in(client, "duty")
    assert client.get(f"/console/tickets/{number}").status_code == 404
    assert client.get(f"/console/media/{number}").status_code == 404
    form = {"csrf_token": csrf(client, "/console/")}
    assert client.post(f"/console/tickets/{number}/acknowledge", data=form).status_code == 404


# Security headers


def test_every_console_page_forbids_scripts_framing_sniffing_and_caching(app, wechat, accounts) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    client = app.test_client()
    anonymous = client.get("/console/signin")
    sign_in(client, "duty")
    paths = ("/console/", "/console/tickets/1", "/console/checkins", "/console/reports")
    pages = [anonymous, *(client.get(path) for path in (*paths, "/console/tickets/999"))]
    for page in pages:
        policy = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src" not in policy and "unsafe-inline" not in policy
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["Referrer-Policy"] == "same-origin"
        assert page.headers["Cache-Control"] == "no-store"
        body = page.get_data(as_text=True)
        assert "<script" not in body and " style=" not in body  # nothing the policy would block
    assert "网格员 王芳" in text(pages[2])


def test_the_stylesheet_may_be_cached(app) -> None:
    response = app.test_client().get("/console/static/console.css")
    assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    response.close()


# Media: served as what the bytes are, never as a page of the console's origin

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20)
AMR = b"#!AMR\nvoice-of-an-elder"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<html><script>fetch('/console/tickets')</script></html>"


@pytest.mark.parametrize(
    ("kind", "data", "content_type", "filename", "served_as"),
    [
        ("image", SVG, "image/svg+xml", "evil.svg", None),
        ("image", HTML, "text/html", "evil.html", None),
        ("image", HTML, "image/jpeg", "evil.jpg", None),
        ("image", PNG, "text/html", "photo.html", "image/png"),
        ("voice", AMR, "audio/amr", "voice.amr", "audio/amr"),
        ("voice", HTML, "audio/amr", "voice.amr", None),
    ],
)
def test_media_are_served_as_the_type_their_bytes_show_or_as_a_download(
    tmp_path, factory, classifier, clock, accounts, kind, data, content_type, filename, served_as
) -> None:
    from bot.app import create_app
    from tests.support import WeChatServer

    fake = FakeWeChat().start()
    try:
        live = live_settings(tmp_path, fake)
        app = create_app(live, factory, classifier, clock)
        wechat = WeChatServer(app.test_client(), live.wechat, clock)
        wechat.say(ZHANG, "卫生间水管漏水了")
        fake.add_media("MEDIA_1", data, content_type, filename)
        fields = {"PicUrl": "http://mmbiz.qpic.cn/x"} if kind == "image" else {"Format": "amr"}
        wechat.post(ZHANG, kind, MediaId="MEDIA_1", **fields)
        client = official_account_client(live, factory)
        assert download_pending_media(factory, live, client, clock()).saved == 1
    finally:
        fake.stop()
    with transaction(factory) as session:
        message_id = session.scalar(select(InboundMessage.id).where(InboundMessage.media_id == "MEDIA_1"))
    client = app.test_client()
    sign_in(client, "wangfang")
    served = client.get(f"/console/media/{message_id}")
    body = served.data
    served.close()
    assert served.status_code == 200 and body == data
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert "no-store" in served.headers["Cache-Control"]
    if served_as is None:
        assert served.headers["Content-Type"] == "application/octet-stream"
        assert served.headers["Content-Disposition"].startswith("attachment")
    else:
        assert served.headers["Content-Type"] == served_as
        assert "attachment" not in served.headers.get("Content-Disposition", "")


# Passwords


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password", "至少需要10个字符"),
        ("12345678", "至少需要10个字符"),
        ("13912345678", "不能只有数字"),
        ("aaaaabbbbb", "至少要有5个不同的字符"),
        ("Password123!", "太常见"),
        ("woaini1314520", "太常见"),
        ("1qaz2wsx3edc", "太常见"),
        ("wangfang2024", "不能包含登录名"),
    ],
)
def test_weak_office_passwords_are_refused_with_a_reason(tmp_path, password, reason) -> None:
    added = staff_command(tmp_path, "add", "--name", "王芳", "--login", "wangfang", password=password)
    assert added.returncode == 2 and reason in added.stderr, added.stderr


def test_a_weak_new_password_is_refused_and_the_old_one_still_works(app, accounts, tmp_path) -> None:
    changed = staff_command(tmp_path, "password", "duty", password="1234567890")
    assert changed.returncode == 2 and "cannot be digits only" in changed.stderr
    assert sign_in(app.test_client(), "duty").status_code == 302
