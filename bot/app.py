"""The Flask application factory: wires settings, storage and the router into the webhook."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from flask import Flask, Response
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from bot.console.web import register_console
from bot.freshness import RequestGuard
from bot.inbox import InboundRecord, receive
from bot.intents import IntentClassifier
from bot.open311 import make_open311
from bot.router import route
from bot.spool import Spool, SpoolReplayer, offline_reply, with_spool
from bot.webhook import make_webhook
from config.settings import Settings
from handlers.context import Incoming, Reply, Services
from storage.db import LARGEST_ID

Clock = Callable[[], datetime]
Router = Callable[[Services, Incoming], Reply]
SPOOL_REPLAYER = "griddesk.spool_replayer"


def utc_now() -> datetime:
    """The real clock, aware UTC."""
    return datetime.now(UTC)


class RowIdConverter(IntegerConverter):
    """<int:...> in our URLs names a row: a number past the largest id is no page (404), not a 500."""

    def __init__(
        self, url_map: Map, fixed_digits: int = 0, min: int | None = None, max: int = LARGEST_ID
    ) -> None:
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max)


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
    app.url_map.converters["int"] = RowIdConverter

    def handle(session: Session, incoming: Incoming) -> Reply:
        return router(Services(session, settings, classifier, clock(), incoming.message_id), incoming)

    def process(record: InboundRecord) -> str | None:
        return receive(session_factory, record, handle, clock())

    def reply_offline(record: InboundRecord) -> str | None:
        return offline_reply(record, classifier, settings.duty_phone)

    guard = RequestGuard(session_factory, clock, settings.webhook)
    spool = Spool(settings.spool.dir, settings.database_url)
    process_or_keep = with_spool(process, spool, reply_offline, clock)
    app.register_blueprint(make_webhook(settings.wechat, guard, process_or_keep))
    app.extensions[SPOOL_REPLAYER] = SpoolReplayer(
        spool, session_factory, handle, clock, settings.timezone, guard.settle
    )
    app.register_blueprint(make_open311(settings, session_factory, classifier, clock))
    register_console(app, settings, session_factory, classifier, clock)
    app.add_url_rule("/healthz", "healthz", lambda: Response("ok", content_type="text/plain"))
    app.register_error_handler(HTTPException, _plain_error)
    if settings.proxy_hops:
        # Client address and scheme from the proxies' headers, trusting only as many hops as there are.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    return app


def spool_replayer(app: Flask) -> SpoolReplayer:
    """The app's replayer of messages spooled while the database was away (not started)."""
    replayer: SpoolReplayer = app.extensions[SPOOL_REPLAYER]
    return replayer


def _plain_error(error: HTTPException) -> Response:
    """Errors as one short line of text: no HTML page, no traceback."""
    return Response(
        f"{error.code} {error.description or error.name}\n",
        status=error.code,
        content_type="text/plain; charset=utf-8",
    )
