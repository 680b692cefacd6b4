"""Helpers for the console tests: accounts, signing in through the real form, reading pages."""

from __future__ import annotations

import re
from html import unescape

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from bot.console.accounts import add_staff
from storage.db import transaction
from tests.support import FakeClock

PASSWORD = "correct horse 42"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TAGS = re.compile(r"<[^>]+>")
_NOTICE = re.compile(r'<p class="note (done|refused)" role="status">(.*?)</p>', re.DOTALL)


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
        add_staff(session, clock(), name=name, login=login, role=role, password=PASSWORD, grid_codes=grids)


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
