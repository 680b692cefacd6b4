"""Helpers for the console tests: accounts, signing in through the real form, reading pages."""

from __future__ import annotations

import io
import re
from html import unescape
from pathlib import Path
from typing import NamedTuple

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from bot.console.accounts import add_staff
from bot.dispatcher import dispatch_due
from bot.messenger import ConsoleMessenger
from config.settings import Settings
from storage.db import transaction
from tests.conftest import make_settings
from tests.support import FakeClock

PASSWORD = "correct horse 42"
BASE_URL = "http://console.test"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TAGS = re.compile(r"<[^>]+>")
_PRINTED_PUSH = re.compile(r"^── 推送 → .*?\((.*?)\)\[(.*?)\] ──$", re.MULTILINE)
_NOTICE = re.compile(r'<p class="note (done|refused)" role="status">(.*?)</p>', re.DOTALL)


def console_settings(tmp_path: Path) -> Settings:
    """Sandbox settings with the console's public address set (pushes carry sign-in links), photos saved
    under tmp_path."""
    return make_settings(
        tmp_path,
        GRIDDESK_CONSOLE_BASE_URL=BASE_URL,
        GRIDDESK_DELIVERY_MEDIA_DIR=str(tmp_path / "media"),
    )


def make_account(
    factory: sessionmaker[Session],
    clock: FakeClock,
    name: str,
    login: str,
    role: str,
    grids: tuple[str, ...] = (),
) -> None:
    """A console account, as `run.py staff add` makes it."""
    with transaction(factory) as session:
        add_staff(
            session, clock(), name=name, login=login, role=role, password=PASSWORD, grid_codes=grids,
            take_over=lambda *_: None,  # a console test needs the account, not the handover pushes
        )


def csrf(client: FlaskClient, path: str = "/console/signin") -> str:
    """The CSRF token from a page's form."""
    match = _CSRF.search(client.get(path).get_data(as_text=True))
    assert match is not None, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, login: str, password: str = PASSWORD) -> TestResponse:
    """Fill in and send the sign-in form."""
    token = csrf(client)
    return client.post("/console/signin", data={"login": login, "password": password, "csrf_token": token})


def text(response: TestResponse) -> str:
    """A page's visible text, roughly: tags dropped, entities decoded, whitespace squeezed."""
    return " ".join(unescape(_TAGS.sub(" ", response.get_data(as_text=True))).split())


def act(client: FlaskClient, ticket_id: int, action: str, **fields: str) -> str:
    """Press an action's button on the ticket page; returns the page shown after it."""
    return text(act_response(client, ticket_id, action, **fields))


def act_response(client: FlaskClient, ticket_id: int, action: str, **fields: str) -> TestResponse:
    """The ticket page shown after pressing an action's button."""
    token = csrf(client, f"/console/tickets/{ticket_id}")
    response = client.post(
        f"/console/tickets/{ticket_id}/{action}", data={"csrf_token": token, **fields}, follow_redirects=True
    )
    assert response.status_code == 200, response.status_code
    return response


def notice(response: TestResponse) -> tuple[str, str]:
    """The notice at the top of a page after an action: its kind ('done' or 'refused') and its text."""
    match = _NOTICE.search(response.get_data(as_text=True))
    assert match is not None, "no notice on the page"
    return match.group(1), unescape(match.group(2)).strip()


class Sent(NamedTuple):
    """A push as its recipient read it."""

    recipient: str
    kind: str
    text: str


def deliver(app: Flask) -> list[Sent]:
    """Send the due pushes as the sandbox does (printed) and return them as they were sent."""
    console = app.extensions["griddesk.console"]
    printed = io.StringIO()
    dispatch_due(console.factory, ConsoleMessenger(printed), console.settings.dispatcher, console.clock())
    parts = _PRINTED_PUSH.split(printed.getvalue())[1:]
    return [Sent(*parts[i : i + 2], parts[i + 2].strip("\n")) for i in range(0, len(parts), 3)]


def link_in(push_text: str) -> str:
    """The path of the one-time sign-in link in a push as sent (its 网页处理 line)."""
    line = next(line for line in push_text.splitlines() if line.startswith("网页处理:"))
    url = line.removeprefix("网页处理:")
    assert "/console/go/" in url, url
    return url[url.index("/console/") :]


def sent_link(app: Flask, recipient: str) -> str:
    """Send the due pushes; the sign-in link in the last one sent to recipient."""
    return link_in([sent for sent in deliver(app) if sent.recipient == recipient][-1].text)
