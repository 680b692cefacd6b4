"""Reading one wechatpy message or event into its InboundRecord: the Incoming, its de-duplication key
and the raw XML kept for storage; MalformedMessage for what WeChat never sends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from handlers.context import Incoming, TemplateReceipt
from storage.models import InboundMessage


class MalformedMessage(ValueError):
    """The XML parsed, but is not a WeChat message we can key and store."""


@dataclass(frozen=True)
class InboundRecord:
    """One inbound message as it is stored: its Incoming, under its de-duplication key, with its XML."""

    dedup_key: str
    raw: str  # the decrypted XML, kept for storage only: nothing reads the message back out of it
    incoming: Incoming


def record_from_wechat(message: Any, raw: str) -> InboundRecord:
    """Read a wechatpy message or event into its Incoming, once; MalformedMessage for what WeChat never sends.

    Every field fits its column (storage/models/messages.py) when stored: a value WeChat never sends that
    long is refused, one it may (a location's label, a menu or QR code key) is cut to fit.
    """
    openid = _text(message, "source", "FromUserName", refuse_over=_width("openid"))
    created = _field(message, "time", "CreateTime")
    msg_id = _field(message, "id", "MsgId")
    if not openid or not created:
        raise MalformedMessage("FromUserName and CreateTime are required")
    if not 0 < created < LATEST_CREATE_TIME:
        raise MalformedMessage("CreateTime is not a time")
    if msg_id and not 0 < msg_id < 2**64:
        raise MalformedMessage("MsgId is not a 64-bit number")
    msg_type = message.type
    event = getattr(message, "event", None) or None
    subscriptions: tuple[tuple[str, str], ...] = ()
    if msg_type == "unknown" and _raw_event(message) in SUBSCRIPTION_EVENTS:
        # wechatpy does not know WeChat's subscription-message events: read them from the parsed XML.
        msg_type, event = "event", _raw_event(message)
        subscriptions = _subscription_items(message, SUBSCRIPTION_EVENTS[event])
    key = f"msg:{msg_id}" if msg_id else f"evt:{openid}:{created}:{event or msg_type}"
    content = _text(message, "content", "Content") or _text(message, "recognition", "Recognition")
    event_key = _text(message, "key", "EventKey", cut_to=_width("event_key")) or _text(
        message, "scene_id", "EventKey", cut_to=_width("event_key")
    )
    incoming = Incoming(
        openid=openid,
        msg_type=msg_type,
        text=content,
        media_id=_text(message, "media_id", "MediaId", refuse_over=_width("media_id")),
        event=event,
        event_key=event_key,
        latitude=_degrees(message, 90, ("location_x", "Location_X"), ("latitude", "Latitude")),
        longitude=_degrees(message, 180, ("location_y", "Location_Y"), ("longitude", "Longitude")),
        label=_text(message, "label", "Label", cut_to=_width("label")),
        receipt=_template_receipt(message, msg_id) if event == TEMPLATE_FINISHED else None,
        subscriptions=subscriptions,
    )
    return InboundRecord(dedup_key=key, raw=raw, incoming=incoming)


TEMPLATE_FINISHED = "templatesendjobfinish"


def _template_receipt(message: Any, msg_id: int | None) -> TemplateReceipt | None:
    """A TEMPLATESENDJOBFINISH event's MsgID (wechatpy reads it as the event's id) and Status."""
    if not msg_id:
        return None  # nothing to match it to
    return TemplateReceipt(id=msg_id, status=_text(message, "status", "Status") or "")


# WeChat's events about subscription messages (订阅通知), by the element holding their <List> items.
SUBSCRIPTION_EVENTS = {
    "subscribe_msg_popup_event": "SubscribeMsgPopupEvent",
    "subscribe_msg_change_event": "SubscribeMsgChangeEvent",
    "subscribe_msg_sent_event": "SubscribeMsgSentEvent",
}
# What one event may carry: a popup asks for a few templates at a time.
MOST_SUBSCRIPTION_ITEMS = 20


def _raw_event(message: Any) -> str:
    """The Event element of a message wechatpy did not recognise, in lower case."""
    event = message._data.get("Event")
    return event.lower() if isinstance(event, str) else ""


def _subscription_items(message: Any, element: str) -> tuple[tuple[str, str], ...]:
    """(template id, status) for each <List> item: accept/reject, or sent/failed:<status> for a send."""
    holder = message._data.get(element)
    items = holder.get("List") if isinstance(holder, dict) else None
    # xmltodict reads one <List> as a dict, several as a list of dicts.
    items = [items] if isinstance(items, dict) else items if isinstance(items, list) else []
    if len(items) > MOST_SUBSCRIPTION_ITEMS:
        raise MalformedMessage(f"{element} has more than {MOST_SUBSCRIPTION_ITEMS} items")
    found = []
    for item in items:
        template_id = item.get("TemplateId") if isinstance(item, dict) else None
        if not isinstance(template_id, str) or not template_id or len(template_id) > 64:
            raise MalformedMessage(f"{element}: a TemplateId is missing or too long")
        found.append((template_id, _subscription_status(item)))
    return tuple(found)


def _subscription_status(item: dict[str, Any]) -> str:
    """The user's choice (accept, reject), or a send's outcome (sent, failed:<ErrorStatus>)."""
    if "ErrorCode" in item:
        if str(item.get("ErrorCode")).strip() == "0":
            return "sent"
        why = str(item.get("ErrorStatus") or item.get("ErrorCode")).strip()[:30]
        return why if why.startswith("failed") else f"failed:{why}"
    status = item.get("SubscribeStatusString")
    return status.strip().lower()[:10] if isinstance(status, str) else ""


# Unix seconds up to the year 2286: keeps an event's de-duplication key within its column.
LATEST_CREATE_TIME = 10**10


def _width(column: str) -> int:
    """The length of an inbound_messages column."""
    return InboundMessage.__table__.c[column].type.length


def _field(message: Any, attr: str, name: str) -> Any:
    """A field as wechatpy reads it; MalformedMessage when it is doubled, has markup or cannot be read."""
    try:
        value = getattr(message, attr, None)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedMessage(f"bad {name}") from exc
    if isinstance(value, list):
        raise MalformedMessage(f"duplicated element {name}")
    if isinstance(value, dict):
        raise MalformedMessage(f"{name} must be plain text")
    return value


def _text(
    message: Any, attr: str, name: str, *, refuse_over: int | None = None, cut_to: int | None = None
) -> str | None:
    """A text field or None; longer than `refuse_over`: MalformedMessage; longer than `cut_to`: cut."""
    value = _field(message, attr, name)
    if value in (None, ""):
        return None
    value = str(value)
    if refuse_over is not None and len(value) > refuse_over:
        raise MalformedMessage(f"{name} is longer than {refuse_over} characters")
    return value[:cut_to] if cut_to is not None else value


def _degrees(message: Any, bound: float, *fields: tuple[str, str]) -> float | None:
    """A latitude or longitude within ±bound: the first of the (attribute, element name) fields present."""
    for attr, name in fields:
        value = _field(message, attr, name)
        if value in (None, ""):
            continue
        try:
            degrees = float(value)
        except ValueError as exc:
            raise MalformedMessage(f"{name} is not a number") from exc
        if not -bound <= degrees <= bound:  # NaN fails this too
            raise MalformedMessage(f"{name} is out of range")
        return degrees
    return None
