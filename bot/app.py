"""The Flask application factory: wires settings, storage and the router into the webhook."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from flask import Flask, Response, has_request_context, request
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, Map

from bot.arrival import REQUEST_START, arrived_at, waited_at_proxy
from bot.backlog import Backlog
from bot.console.web import missing_page, register_console
from bot.freshness import RequestGuard
from bot.inbound_record import InboundRecord
from bot.inbox import Handler, Later, QuickReply, receive, receive_later
from bot.inbox_workers import InboxWorkers
from bot.open311 import make_open311
from bot.open311.formats import Open311Error, error_document, format_of
from bot.quick_replies import QuickTexts, quick_reply
from bot.speech.listening import LISTENING, needs_listening, voice_listener
from bot.spool import Spool, SpoolReplayer, offline_reply, with_spool
from bot.webhook import make_webhook
from config.settings import Settings
from handlers.clock import Clock, utc_now
from handlers.context import Dependencies, Incoming, Reply, Services
from handlers.domain_settings import DomainSettings
from handlers.language.intents import IntentClassifier
from handlers.routing.router import route
from storage.db import LARGEST_ID
from storage.nonces import NonceClaim

Router = Callable[[Services, Incoming], Reply]
SPOOL_REPLAYER = "griddesk.spool_replayer"
INBOX_WORKERS = "griddesk.inbox_workers"
# What a message queued under overload is answered at once; its ticket number follows as a push.
QUEUED = QuickTexts(
    message="已收到,稍后回复您。",
    event="已收到,稍后回复您。",
    emergency_note="您的求助已经记下,正在通知网格员。",
    # Only a request becomes a ticket: an elder's "1" to the morning ping must not be promised one.
    request="已收到,正在为您登记,稍后告诉您工单号。",
)
# Addresses read by programs, not people: their errors stay one line of plain text.
MACHINE_PATHS = ("/wechat", "/healthz")


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
    backlog: Backlog | None = None,
) -> Flask:
    """Build the web app; the caller owns the engine, the scheduler and the database schema.

    `backlog` measures how long messages wait in this process (a new one when not given).
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.url_map.converters["int"] = RowIdConverter
    dependencies = Dependencies(DomainSettings.of(settings), classifier, clock)

    def handle(session: Session, incoming: Incoming) -> Reply:
        return router(dependencies.services(session, incoming.message_id), incoming)

    def handle_as_of(received_at: datetime) -> Handler:
        """The router for a message finished late, as of when it came: its ticket's deadlines count from
        then, and the sender's customer-service window is known to have opened then, not now."""

        def handle_then(session: Session, incoming: Incoming) -> Reply:
            services = dependencies.services(session, incoming.message_id)
            return router(replace(services, now=received_at), incoming)

        return handle_then

    listener = voice_listener(settings, session_factory, clock)
    workers = InboxWorkers(
        session_factory,
        handle_as_of,
        clock,
        settings.inbox,
        settings.timezone,
        listen=listener.transcript if listener is not None else None,
    )
    backlog = backlog or Backlog()

    def reply_at_once(record: InboundRecord) -> QuickReply:
        return quick_reply(record, classifier, settings.duty_phone, QUEUED)

    queue_after = settings.inbox.queue_after_seconds
    # Never queueing, nothing need wait behind a queued message either (nor look for one).
    later = Later(reply_at_once, workers.wake) if queue_after or listener is not None else None
    # Transcribing takes seconds, WeChat waits 5: voice without words is answered now, finished later,
    # and before messages known not to be emergencies (what might be an emergency is treated as one).
    listening = Later(lambda _record: QuickReply(LISTENING, urgent=True), workers.wake)

    def arrival() -> float | None:
        """When this request arrived: at gunicorn's thread pool, or earlier at a trusted proxy."""
        arrived = arrived_at()
        waited = None
        if settings.proxy_hops and has_request_context():
            waited = waited_at_proxy(request.headers.get(REQUEST_START), time.time())
        if waited is None:
            return arrived
        at_proxy = backlog.ago(waited)
        return at_proxy if arrived is None else min(arrived, at_proxy)

    def process(record: InboundRecord, claim: NonceClaim) -> str | None:
        now, arrived = clock(), arrival()
        if listener is not None and needs_listening(record.incoming):
            return receive_later(session_factory, record, now, listening, claim)
        classify_early(record.incoming, classifier)
        if later is not None and queue_after and backlog.age(arrived) >= queue_after:
            # It, or the messages before it, waited this long already: store it, answer now, finish later.
            return receive_later(session_factory, record, now, later, claim)
        with backlog.in_hand(arrived):
            return receive(session_factory, record, handle, now, later, claim)

    def reply_offline(record: InboundRecord) -> str | None:
        return offline_reply(record, classifier, settings.duty_phone)

    guard = RequestGuard(clock, settings.webhook)
    spool = Spool(settings.spool.dir, settings.database_url)
    process_or_keep = with_spool(process, spool, reply_offline, clock)
    app.register_blueprint(make_webhook(settings.wechat, guard, process_or_keep))
    app.extensions[SPOOL_REPLAYER] = SpoolReplayer(
        spool,
        session_factory,
        handle,
        clock,
        settings.timezone,
        later=later,
        listening=listening if listener is not None else None,
    )
    app.extensions[INBOX_WORKERS] = workers
    app.register_blueprint(make_open311(settings, dependencies, session_factory))
    register_console(app, settings, dependencies, session_factory)
    app.add_url_rule("/healthz", "healthz", lambda: Response("ok", content_type="text/plain"))
    app.register_error_handler(HTTPException, _error)
    if settings.proxy_hops:
        # Client address and scheme from the proxies' headers, trusting only as many hops as there are.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)
    return app


def classify_early(incoming: Incoming, classifier: IntentClassifier) -> None:
    """Classify a text before the write lock is taken, so the router inside it finds the answer made."""
    if incoming.text and incoming.msg_type in ("text", "voice"):
        classifier.classify(incoming.text)


def spool_replayer(app: Flask) -> SpoolReplayer:
    """The app's replayer of messages spooled while the database was away (not started)."""
    replayer: SpoolReplayer = app.extensions[SPOOL_REPLAYER]
    return replayer


def inbox_workers(app: Flask) -> InboxWorkers:
    """The app's inbox workers, which finish messages queued under overload (not started)."""
    workers: InboxWorkers = app.extensions[INBOX_WORKERS]
    return workers


def _error(error: HTTPException) -> Response:
    """An error no blueprint answered, in the asker's form: Open311's error list, a page for people."""
    path = request.path
    if path == "/open311" or path.startswith("/open311/"):
        return error_document(format_of(path), Open311Error(error.code or 500, _open311_description(error)))
    if error.code in (404, 405) and not path.startswith(MACHINE_PATHS):
        return missing_page(error)
    # WeChat reads /wechat's answers by its own protocol: they stay exactly as they were.
    return _plain_error(error)


def _open311_description(error: HTTPException) -> str:
    """What an Open311 client's user reads about an address or method the API does not have."""
    if error.code == 404:
        return f"没有这个接口:{request.path}"
    if error.code == 405:
        return f"这个接口不支持 {request.method} 请求"
    return error.description or error.name


def _plain_error(error: HTTPException) -> Response:
    """Errors as one short line of text: no HTML page, no traceback."""
    return Response(
        f"{error.code} {error.description or error.name}\n",
        status=error.code,
        content_type="text/plain; charset=utf-8",
    )
