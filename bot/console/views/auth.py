"""Signing in with a password or a one-time link from a push, and signing out."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from flask import Blueprint, redirect, request, url_for
from werkzeug.wrappers import Response

from bot.console.accounts import sign_in
from bot.console.links import redeem_link
from bot.console.pages import console, page, sign_out, start_session
from handlers.language.privacy import mask_name
from storage.db import transaction
from storage.models import Worker

log = logging.getLogger(__name__)
# A path under /console in printable ASCII: no scheme or host, no CR/LF or spaces, no backslashes.
SAFE_NEXT = re.compile(r"/console/[!-\[\]-~]*")


def register(blueprint: Blueprint) -> None:
    """Add the sign-in, sign-out and link routes."""
    blueprint.add_url_rule("/signin", "signin", signin, methods=["GET", "POST"])
    blueprint.add_url_rule("/signout", "signout", signout, methods=["POST"])
    blueprint.add_url_rule("/go/<token>", "go", go)


def signin() -> str | Response | tuple[str, int]:
    """The sign-in form; a right password starts a session and goes where the person was heading."""
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return page("signin.html", next=target, login="", refusal=None)
    app = console()
    login, password = request.form.get("login", ""), request.form.get("password", "")
    now = app.clock()
    address = request.remote_addr or "-"
    result = sign_in(app.factory, app.settings.console, now, login, password, address)
    if result.account is None:
        return page("signin.html", next=target, login=login, refusal=result.refusal), 401
    with transaction(app.factory) as session:
        start_session(session, result.account.worker_id, result.account.id, now)
    log.info("console: %s signed in", mask_name(result.account.worker.name))
    return redirect(request.script_root + target if target else url_for("console.board"))


def signout() -> Response:
    """End the session (a POST with the CSRF token, so another site cannot sign anyone out)."""
    sign_out()
    return redirect(url_for("console.signin"))


def go(token: str) -> Response | tuple[str, int]:
    """A one-time link from a push: sign that worker in and open the ticket."""
    app = console()
    now = app.clock()
    with transaction(app.factory) as session:
        link = redeem_link(session, token, now)
        if link is not None:
            worker = session.get(Worker, link.worker_id)
            start_session(session, link.worker_id, None, now)
            log.info("console: %s signed in from a push link", mask_name(worker.name if worker else None))
    if link is None:
        return page("link_expired.html"), 410
    if link.ticket_id is not None:
        return redirect(url_for("console.ticket", ticket_id=link.ticket_id))
    return redirect(url_for("console.board"))


def _safe_next(target: str | None) -> str:
    """Only a plain console path (never another site, a header break or a climb out) after signing in;
    '' for none.

    The path is the app's own, without the prefix of a community served under /c/<slug>
    (docs/tenancy.md): the form carries it back as it came, and signing in adds the prefix.
    """
    if target and SAFE_NEXT.fullmatch(target) and ".." not in unquote(target).split("?")[0].split("/"):
        return target
    return ""
