"""The Flask application factory: wires settings, storage and the router into the webhook."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask, Response
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from bot.console.web import register_console
from bot.freshness import RequestGuard
from bot.inbox import InboundRecord, receive
from bot.intents import IntentClassifier
from bot.open311 import make_open311
from bot.router import route
from bot.webhook import make_webhook
from config.settings import Settings
from handlers.context import Incoming, Reply, Services

Clock = Callable[[], datetime]
Router = Callable[[Services, Incoming], Reply]


def utc_now() -> datetime:
    """The real clock, aware UTC."""
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    session_factory: sessionmaker[Session],
    classifier: IntentClassifier,
    clock: Clock = utc_now,
    router: Router = route,
) -> Flask:
    """Build the web app; the caller owns the engine, the scheduler and the database schema."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes

    def handle(session: Session, incoming: Incoming) -> Reply:
        return router(Services(session, settings, classifier, clock(), incoming.message_id), incoming)

    def process(record: InboundRecord) -> str | None:
        return receive(session_factory, record, handle, clock())

    guard = RequestGuard(session_factory, clock, settings.webhook)
    app.register_blueprint(make_webhook(settings.wechat, guard, process))
    app.register_blueprint(make_open311(settings, session_factory, classifier, clock))
    register_console(app, settings, session_factory, classifier, clock)
    app.add_url_rule("/healthz", "healthz", lambda: Response("ok", content_type="text/plain"))
    app.register_error_handler(HTTPException, _plain_error)
    if settings.proxy_hops:
        # Client address and scheme from the proxies' headers, trusting only as many hops as there are.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    return app


def _plain_error(error: HTTPException) -> Response:
    """Errors as one short line of text: no HTML page, no traceback."""
    return Response(
        f"{error.code} {error.description or error.name}\n",
        status=error.code,
        content_type="text/plain; charset=utf-8",
    )
