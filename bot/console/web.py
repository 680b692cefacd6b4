"""The console blueprint: who is signed in, what they see, CSRF on every POST, and the page views."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

from flask import (
    Blueprint,
    Flask,
    Request,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.wrappers import Response

from bot.console.pages import (
    EXTENSION,
    Console,
    Staff,
    console,
    csrf_token,
    forget_session,
    local,
)
from bot.console.scope import scope_of
from bot.console.session_key import session_key
from bot.console.sessions import live_session
from bot.console.views import (
    actions,
    auth,
    board,
    bulk,
    checkins,
    media,
    notices,
    reports,
    roster,
    staff_departures,
    staff_invites,
    street,
    street_reports,
    tickets,
)
from config.settings import Settings
from handlers.context import Dependencies
from storage.db import transaction

URL_PREFIX = "/console"
PUBLIC_ENDPOINTS = frozenset({"console.signin", "console.go", "console.static"})
CSRF_FIELD = "csrf_token"
# Console pages load their own stylesheet and media and nothing else; no script runs, nothing frames them.
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class _DatabaseKeySessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, its key fetched from settings or the database on first use."""

    def __init__(self, key: Callable[[], str]) -> None:
        self._key = key
        self._cached: str | None = None

    def open_session(self, app: Flask, incoming: Request) -> SecureCookieSession | None:
        """Only console requests have a session: the webhook never touches the key or the cookie."""
        if not incoming.path.startswith(URL_PREFIX):
            return self.null_session_class()
        return super().open_session(app, incoming)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Sign with the shared key (looked up once per process)."""
        if self._cached is None:
            self._cached = self._key()
        app.secret_key = self._cached
        return super().get_signing_serializer(app)


def register_console(
    app: Flask, settings: Settings, dependencies: Dependencies, factory: sessionmaker[Session]
) -> None:
    """Mount the console at /console on the app, with its session cookie settings."""
    clock = dependencies.clock
    app.extensions[EXTENSION] = Console(settings, dependencies, factory)
    app.session_interface = _DatabaseKeySessionInterface(
        lambda: session_key(factory, settings.console, clock())
    )
    app.config.update(
        SESSION_COOKIE_NAME="griddesk_console",
        SESSION_COOKIE_PATH=settings.mount + URL_PREFIX,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.console.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.console.session_hours),
    )
    app.register_blueprint(make_blueprint())
    app.add_url_rule("/", "welcome", _welcome)
    app.after_request(_security_headers)


def _security_headers(response: Response) -> Response:
    """Every console answer and page (errors too): a strict CSP, no framing or sniffing, no caching."""
    if not request.path.startswith(URL_PREFIX) and response.mimetype != "text/html":
        return response
    headers = response.headers
    headers.setdefault("Content-Security-Policy", PAGE_POLICY)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    # Pages and downloads name residents and give their phones: no browser or proxy keeps a copy.
    if request.endpoint != "console.static":
        headers["Cache-Control"] = "no-store"
    return response


def make_blueprint() -> Blueprint:
    """The blueprint with every page registered."""
    blueprint = Blueprint(
        "console",
        __name__,
        url_prefix=URL_PREFIX,
        template_folder="templates",
        static_folder="static",
    )
    blueprint.before_request(_check_csrf)
    blueprint.before_request(_load_staff)
    blueprint.app_template_global("csrf_token")(csrf_token)
    blueprint.app_template_filter("local")(local)
    blueprint.register_error_handler(HTTPException, _error_page)
    pages = (
        auth,
        board,
        tickets,
        actions,
        bulk,
        media,
        checkins,
        notices,
        reports,
        roster,
        staff_invites,
        staff_departures,
    )
    # The street office's section answers only in the first community's console (bot/street.py).
    for module in (*pages, street, street_reports):
        module.register(blueprint)
    return blueprint


def _check_csrf() -> None:
    """Every POST carries the session's token: a page from another site cannot act for a signed-in user."""
    if request.method != "POST":
        return
    expected = session.get("csrf")
    given = request.form.get(CSRF_FIELD, "")
    if not expected or not secrets.compare_digest(str(expected), given):
        raise BadRequest("页面已过期或来源不明,请返回刷新后再试。")


def _load_staff() -> Response | None:
    """Find who is signed in; anyone else goes to the sign-in page (public pages excepted)."""
    g.staff = None
    if session.get("sid") is not None:
        g.staff = _staff_from_session()
        if g.staff is None:
            forget_session()
    if g.staff is None and request.endpoint not in PUBLIC_ENDPOINTS:
        target = request.full_path if request.method == "GET" else url_for("console.board")
        return redirect(url_for("console.signin", next=target.rstrip("?")))
    return None


def _staff_from_session() -> Staff | None:
    """The session's person while its database record is open (see bot.console.sessions.live_session)."""
    app = console()
    with transaction(app.factory) as db:
        found = live_session(db, str(session.get("sid", "")), app.clock())
        if found is None:
            return None
        worker, account = found
        login = account.login if account is not None else None
        return Staff(worker.id, worker.name, worker.role, login, scope_of(db, worker))


def _error_page(error: HTTPException) -> tuple[str, int]:
    """Errors as a short Chinese page inside the console's layout."""
    messages = {
        400: error.description if request.method == "POST" else "请求有误。",
        403: "您没有权限查看这个页面。",
        404: "没有找到这个页面,或者它不在您负责的网格里。",
        405: "不支持这样访问。",
    }
    text = messages.get(error.code or 500, "出了点问题,请稍后再试。")
    return render_template("console/error.html", message=text, code=error.code), error.code or 500


def _welcome() -> str:
    """The site's front page: what GridDesk is, and where staff sign in."""
    return render_template("console/welcome.html", me=None, community=console().settings.community_name)


def missing_page(error: HTTPException) -> Response:
    """A Chinese page for an address no view answers (404) or a method it does not take (405)."""
    messages = {404: "页面不存在,请检查网址是否正确。", 405: "这个页面不支持这样访问。"}
    text = messages.get(error.code or 404, "出了点问题,请稍后再试。")
    community = console().settings.community_name
    body = render_template("console/missing.html", message=text, me=None, community=community)
    response = Response(body, status=error.code or 404, content_type="text/html; charset=utf-8")
    # A 405 names the methods the address does take, as HTTP asks.
    if allowed := dict(error.get_headers()).get("Allow"):
        response.headers["Allow"] = allowed
    return response
