"""Builds messages the way WeChat's servers send them (signed, optionally AES-encrypted), and reads replies.

Used by `run.py say` to talk to a running GridDesk, and by the tests.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
import time
from dataclasses import dataclass
from xml.sax.saxutils import escape

from wechatpy.crypto import WeChatCrypto
from wechatpy.parser import parse_message

OFFICIAL_ACCOUNT = "gh_griddesk_demo"
_msg_ids = itertools.count(int(time.time() * 1000) * 1000)


@dataclass(frozen=True)
class SignedRequest:
    """What WeChat would POST: query parameters and body."""

    params: dict[str, str]
    body: str
    msg_id: int | None


def signature(token: str, timestamp: str, nonce: str, *extra: str) -> str:
    """WeChat's signature: sha1 over the sorted strings."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, *extra])).encode()).hexdigest()


def fresh_nonce() -> str:
    """A nonce like WeChat's: ten random digits."""
    return str(secrets.randbelow(9 * 10**9) + 10**9)


def verification_params(
    token: str, echostr: str = "griddesk-echo", *, timestamp: int | None = None
) -> dict[str, str]:
    """The GET query WeChat sends when the Official Account's server URL is saved (now, or at `timestamp`)."""
    stamp, nonce = _unix_time(timestamp), fresh_nonce()
    return {
        "signature": signature(token, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "echostr": echostr,
    }


def message_xml(
    openid: str,
    msg_type: str,
    fields: dict[str, str],
    *,
    create_time: int | None = None,
    msg_id: int | None = None,
) -> str:
    """A message or event as WeChat's XML; MsgId is added for messages, never for events."""
    parts = [
        f"<ToUserName><![CDATA[{OFFICIAL_ACCOUNT}]]></ToUserName>",
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    parts += [f"<{name}>{escape(value)}</{name}>" for name, value in fields.items()]
    if msg_type != "event":
        parts.append(f"<MsgId>{msg_id or next(_msg_ids)}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


def text_xml(openid: str, text: str, **kwargs: int) -> str:
    """A text message."""
    return message_xml(openid, "text", {"Content": text}, **kwargs)


def sign(
    token: str,
    body: str,
    *,
    aes_key: str = "",
    appid: str = "",
    nonce: str | None = None,
    timestamp: int | None = None,
) -> SignedRequest:
    """Sign a body as WeChat does, now (or at `timestamp`) with a fresh nonce; encrypt it in safe mode."""
    nonce, stamp = nonce or fresh_nonce(), _unix_time(timestamp)
    params = {
        "signature": signature(token, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "openid": _field(body, "FromUserName"),
    }
    msg_id = _msg_id(body)
    if not aes_key:
        return SignedRequest(params, body, msg_id)
    envelope = WeChatCrypto(token, aes_key, appid).encrypt_message(body, nonce, stamp)
    encrypt = _field(envelope, "Encrypt")
    to_user = f"<ToUserName><![CDATA[{OFFICIAL_ACCOUNT}]]></ToUserName>"
    inbound = f"<xml>{to_user}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    params |= {"encrypt_type": "aes", "msg_signature": signature(token, stamp, nonce, encrypt)}
    return SignedRequest(params, inbound, msg_id)


def read_reply(body: str, *, token: str = "", aes_key: str = "", appid: str = "") -> str | None:
    """The text the resident sees in a passive reply (decrypted in safe mode); None for 'success'."""
    if body.strip() in ("", "success"):
        return None
    if aes_key:
        params = (_field(body, "MsgSignature"), _field(body, "TimeStamp"), _field(body, "Nonce"))
        body = WeChatCrypto(token, aes_key, appid).decrypt_message(body, *params)
    return parse_message(body).content


def _unix_time(timestamp: int | None) -> str:
    return str(int(time.time()) if timestamp is None else timestamp)


def _field(xml: str, name: str) -> str:
    """A top-level field's text, or '' when the (possibly malformed) XML lacks it."""
    if f"<{name}>" not in xml or f"</{name}>" not in xml:
        return ""
    start = xml.index(f"<{name}>") + len(name) + 2
    value = xml[start : xml.index(f"</{name}>", start)]
    return value.removeprefix("<![CDATA[").removesuffix("]]>")


def _msg_id(body: str) -> int | None:
    msg_id = _field(body, "MsgId")
    return int(msg_id) if msg_id.isdigit() else None
