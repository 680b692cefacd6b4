"""The /open311 blueprint: discovery, services, requests and their updates (read by all, filed with a key)."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session, sessionmaker

from bot.open311.catalog import build_catalog
from bot.open311.filing import file_request
from bot.open311.formats import CONTENT_TYPES, Open311Error, document, error_document, format_of
from bot.open311.reading import (
    Filters,
    find_requests,
    parse_filters,
    request_id,
    request_rows,
    request_window,
)
from bot.open311.updates import find_updates, update_rows
from config.settings import Open311Client, Settings
from handlers.context import Dependencies
from storage.db import transaction
from storage.rates import count_request

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When the discovery file or the service list last changed in a way clients should notice.
CHANGESET = "2026-11-01T00:00:00+08:00"
FORMAT = "<any(json, xml):fmt>"
# Besides the form field the spec names, a client may send its key in this header.
KEY_HEADER = "X-Api-Key"
KEY_IN_URL = (
    "api_key 不能放在网址的查询参数里(网址会被记入日志),请放在 POST 表单字段 api_key 或请求头 X-Api-Key 中;"
    "已经这样发送过的 api_key 请联系社区办公室更换。"
)


def make_open311(
    settings: Settings, dependencies: Dependencies, session_factory: sessionmaker[Session]
) -> Blueprint:
    """The Open311 GeoReport v2 endpoint at /open311/v2, its discovery file at /open311/discovery.*."""
    clock = dependencies.clock
    options = settings.open311
    catalog = build_catalog(options, dependencies.classifier)
    blueprint = Blueprint("open311", __name__, url_prefix="/open311")

    @blueprint.before_request
    def check_request() -> None:
        if not options.enabled:
            raise Open311Error(404, "本社区未开放 Open311 接口")
        if "api_key" in request.args:
            # Query strings end up in access logs, proxies and browser histories: a key there is out.
            raise Open311Error(400, KEY_IN_URL)
        jurisdiction = request.values.get("jurisdiction_id", "").strip()
        if options.jurisdiction_id and jurisdiction and jurisdiction != options.jurisdiction_id:
            raise Open311Error(404, f"jurisdiction_id 不存在:{jurisdiction}")

    @blueprint.errorhandler(Open311Error)
    def refuse(error: Open311Error) -> Response:
        return error_document(format_of(request.path), error)

    @blueprint.get(f"/discovery.{FORMAT}")
    def discovery(fmt: str) -> Response:
        return document(fmt, "discovery", _discovery(settings))

    @blueprint.get(f"/v2/services.{FORMAT}")
    def services(fmt: str) -> Response:
        return document(fmt, "services", [service.as_row() for service in catalog.services])

    @blueprint.get(f"/v2/services/<code>.{FORMAT}")
    def service_definition(code: str, fmt: str) -> Response:
        if catalog.get(code) is None:
            raise Open311Error(404, f"service_code 不存在:{code}")
        return document(fmt, "service_definition", {"service_code": code, "attributes": []})

    @blueprint.get(f"/v2/requests.{FORMAT}")
    def requests(fmt: str) -> Response:
        filters = parse_filters(request.values, catalog, settings, clock())
        with transaction(session_factory) as session:
            found = find_requests(session, catalog, filters, options.max_requests)
            return document(fmt, "service_requests", request_rows(session, catalog, settings, found))

    @blueprint.get(f"/v2/requests/<number>.{FORMAT}")
    def one_request(number: str, fmt: str) -> Response:
        wanted = request_id(number)
        with transaction(session_factory) as session:
            found = find_requests(session, catalog, Filters(ids=(wanted,)), 1) if wanted is not None else []
            if not found:
                raise Open311Error(404, f"service_request_id 不存在:{_shortened(number)}")
            return document(fmt, "service_requests", request_rows(session, catalog, settings, found))

    @blueprint.get(f"/v2/servicerequestupdates.{FORMAT}")
    def updates(fmt: str) -> Response:
        start, end = request_window(request.values, settings, clock())
        with transaction(session_factory) as session:
            found = find_updates(session, catalog, start, end, options.max_requests)
            return document(fmt, "service_request_updates", update_rows(found, settings))

    @blueprint.post(f"/v2/requests.{FORMAT}")
    def create_request(fmt: str) -> Response:
        given = request.form.get("api_key") or request.headers.get(KEY_HEADER, "")
        client = _client(given, options.clients)
        limit = options.posts_per_minute
        verdict = count_request(session_factory, f"open311:{client.name}", limit, clock())
        if not verdict.allowed:
            message = f"提交过于频繁:每个客户端每分钟最多提交 {limit} 次,请 {verdict.retry_after} 秒后再试。"
            raise Open311Error(429, message, retry_after=verdict.retry_after)
        with transaction(session_factory) as session:
            services = dependencies.services(session)
            filed = file_request(services, catalog, client.name, request.values)
        row = {
            "service_request_id": str(filed.ticket_id),
            "service_notice": filed.notice,
            "account_id": request.values.get("account_id") or None,
        }
        return document(fmt, "service_requests", [row])

    @blueprint.route("/<path:rest>", methods=["GET", "POST"])
    def unknown(rest: str) -> Response:
        raise Open311Error(404, f"没有这个接口:/open311/{rest}")

    return blueprint


def _client(api_key: str, clients: tuple[Open311Client, ...]) -> Open311Client:
    """The client whose key this is; 403 for a missing or wrong key (compared in constant time)."""
    given = api_key.strip().encode()
    for client in clients:
        if given and hmac.compare_digest(given, client.api_key.encode()):
            return client
    raise Open311Error(403, "api_key 缺失或无效,不能提交请求")


def _shortened(text: str, limit: int = 30) -> str:
    """What the client sent, echoed back no longer than a line."""
    return text if len(text) <= limit else text[:limit] + "…"


def public_base_url(settings: Settings) -> str:
    """Where clients reach us, from the settings alone: a request's Host header is the client's to forge.

    A community other than the first is served under its mount (/c/<slug>), on the same server.
    """
    return (
        settings.open311.public_base_url
        or settings.console.base_url.rstrip("/")
        or f"http://{settings.host}:{settings.port}{settings.mount}"
    )


def _discovery(settings: Settings) -> dict[str, object]:
    """The spec's discovery file: where the v2 endpoint is, its formats, whom to ask for a key."""
    base = public_base_url(settings)
    return {
        "changeset": CHANGESET,
        "contact": f"{settings.community_name}网格服务台,电话 {settings.duty_phone}",
        "key_service": f"提交请求需要 api_key,请联系{settings.community_name}办公室申请。",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base}/open311/v2",
                "changeset": CHANGESET,
                "type": "production",
                "formats": [CONTENT_TYPES["xml"].split(";")[0], CONTENT_TYPES["json"].split(";")[0]],
            }
        ],
    }
