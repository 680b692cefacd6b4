"""One spooled message as one line of the spool file, and back: this format, or the one before it.

Version 2 keeps the InboundRecord as it is: the de-duplication key, the raw XML and the Incoming read at
the edge. Version 1 (before one Incoming) kept the record's fields flat, `content` for the text, and
no template receipt: a deployment upgraded with messages still spooled replays those lines too.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from xml.parsers.expat import ExpatError

from wechatpy import parse_message

from bot.inbound_record import TEMPLATE_FINISHED, InboundRecord, record_from_wechat
from handlers.context import Incoming, TemplateReceipt
from storage.nonces import NonceClaim

FORMAT_VERSION = 2


@dataclass(frozen=True)
class SpooledMessage:
    """One inbound message waiting in the spool, and when WeChat delivered it."""

    record: InboundRecord
    received_at: datetime
    # The nonce claim the database was away for: made at replay, and a reused nonce drops the message.
    nonce: NonceClaim | None = None


def encode(message: SpooledMessage) -> bytes:
    """One record as a line: a CRC-32 of the JSON, then the JSON (which escapes any line break)."""
    payload = json.dumps(
        {
            "v": FORMAT_VERSION,
            "received_at": message.received_at.isoformat(),
            "record": asdict(message.record),
            "nonce": asdict(message.nonce) if message.nonce else None,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode(line: bytes) -> SpooledMessage:
    """A record back from its line; ValueError if it is torn or corrupt."""
    if not line.endswith(b"\n"):
        raise ValueError("torn: no end of line")
    checksum, _, payload = line.rstrip(b"\n").partition(b" ")
    if len(checksum) != 8 or int(checksum, 16) != zlib.crc32(payload):
        raise ValueError("checksum mismatch")
    try:
        value = json.loads(payload)
        nonce = NonceClaim(**value["nonce"]) if value.get("nonce") else None
        received_at = datetime.fromisoformat(value["received_at"])
        return SpooledMessage(_record(value["v"], value["record"]), received_at, nonce)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"unreadable record: {type(exc).__name__}") from exc


def _record(version: int, fields: dict[str, Any]) -> InboundRecord:
    """The InboundRecord a line of this format version holds."""
    if version == 1:
        return _record_v1(**fields)
    if version != FORMAT_VERSION:
        raise ValueError(f"unknown format version {version}")
    incoming = dict(fields["incoming"])
    receipt = incoming.pop("receipt", None)
    incoming["receipt"] = TemplateReceipt(**receipt) if receipt else None
    # JSON keeps the (template id, status) pairs as lists; a line written before them has none.
    incoming["subscriptions"] = tuple(tuple(pair) for pair in incoming.get("subscriptions", ()))
    return InboundRecord(fields["dedup_key"], fields["raw"], Incoming(**incoming))


def _record_v1(dedup_key: str, raw: str, content: str | None = None, **fields: Any) -> InboundRecord:
    """A version 1 record: its flat fields, and a template receipt's MsgID and Status (kept only in raw)."""
    receipt = _receipt_in(raw) if fields.get("event") == TEMPLATE_FINISHED else None
    return InboundRecord(dedup_key, raw, Incoming(**fields, text=content, receipt=receipt))


def _receipt_in(raw: str) -> TemplateReceipt | None:
    """A template receipt read from its XML as the webhook reads it now (the webhook parsed it before)."""
    try:
        return record_from_wechat(parse_message(raw), raw).incoming.receipt
    except (ExpatError, ValueError):
        return None
