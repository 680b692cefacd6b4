"""GeoReport v2 documents in JSON and XML (the Spark convention), its error lists, and W3C datetimes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from flask import Response

FORMATS = ("json", "xml")
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
# The element each member of a list is wrapped in, by the list's own element name.
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "attributes": "attribute",
    "endpoints": "endpoint",
    "formats": "format",
}

Row = Mapping[str, Any]
# Dates a client may ask about: far outside them, window arithmetic and time zones overflow.
FIRST_DATE, LAST_DATE = date(1970, 1, 1), date(2999, 12, 31)
# Characters XML 1.0 cannot carry at all (control characters a phone keyboard may still produce).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Open311Error(Exception):
    """A request the API refuses: HTTP status and the description the client's user reads."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        # Seconds until a refused client may try again (429), sent as Retry-After.
        self.retry_after = retry_after


def document(fmt: str, root: str, value: Sequence[Row] | Row, status: int = 200) -> Response:
    """A list (services, service_requests, errors) or one object (service_definition, discovery)."""
    if fmt == "json":
        body = json.dumps(value, ensure_ascii=False, indent=1) + "\n"
    else:
        body = XML_DECLARATION + ElementTree.tostring(_element(root, value), encoding="unicode") + "\n"
    return Response(body, status=status, content_type=CONTENT_TYPES[fmt])


def format_of(path: str) -> str:
    """The format a path asks for: XML for '....xml', else JSON (the spec's default)."""
    return "xml" if path.endswith(".xml") else "json"


def error_document(fmt: str, error: Open311Error) -> Response:
    """The spec's error list: [{"code": 404, "description": "..."}] or <errors><error>..."""
    rows = [{"code": error.status, "description": error.description}]
    response = document(fmt, "errors", rows, error.status)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _element(name: str, value: Any) -> ElementTree.Element:
    element = ElementTree.Element(name)
    if isinstance(value, Mapping):
        for key, member in value.items():
            element.append(_element(key, member))
    elif isinstance(value, list | tuple):
        for member in value:
            element.append(_element(ITEM_NAMES.get(name, "item"), member))
    elif value is not None:
        element.text = _text(value)
    return element


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def w3c(moment: datetime | None, timezone: str) -> str | None:
    """Local time with its offset, e.g. 2026-11-23T10:00:00+08:00 (the W3C profile of ISO 8601)."""
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(timezone)).isoformat(timespec="seconds")


def parse_w3c(value: str, name: str, timezone: str) -> datetime:
    """2010-01-01T00:00:00Z, with an offset, or a bare date; without an offset, local time is meant."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise Open311Error(400, f"{name} 格式不对,应为 W3C 时间,例如 2010-01-01T00:00:00Z") from exc
    if not FIRST_DATE <= moment.date() <= LAST_DATE:
        raise Open311Error(400, f"{name} 超出范围,只能是 {FIRST_DATE} 到 {LAST_DATE} 之间的时间")
    if len(text) == 10:  # a date alone: from its local midnight
        moment = datetime.combine(moment.date(), time())
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))
