"""The /wechat endpoint: verify, decrypt, parse, de-duplicate, route, and reply inside WeChat's 5 seconds."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from xml.parsers.expat import ExpatError

from flask import Blueprint, Response, abort, request
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.parser import parse_message
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from bot.freshness import Refused, RequestGuard
from bot.inbound_record import InboundRecord, MalformedMessage, record_from_wechat
from bot.inbox import StorageUnavailable
from config.settings import WeChatSettings
from storage.nonces import NonceClaim, NonceReused

log = logging.getLogger(__name__)

# A message to store and answer, and the claim on its nonce that its transaction makes.
Process = Callable[[InboundRecord, NonceClaim], "str | None"]
XML = "application/xml; charset=utf-8"


def make_webhook(wechat: WeChatSettings, guard: RequestGuard, process: Process) -> Blueprint:
    """A blueprint serving /wechat for one Official Account, in plaintext or safe (AES) mode."""
    blueprint = Blueprint("wechat", __name__)
    crypto = WeChatCrypto(wechat.token, wechat.aes_key, wechat.appid) if wechat.safe_mode else None
    plaintext_allowed = not wechat.safe_mode or guard.settings.allow_plaintext_in_safe_mode

    @blueprint.get("/wechat")
    def verify_url() -> Response:
        """WeChat's URL verification: echo echostr when the signature holds and is fresh."""
        args = request.args
        with _refusals():
            guard.check_timestamp(args.get("timestamp", ""), args.get("nonce", ""))
            _check_signature(wechat.token, args)
        return Response(args.get("echostr", ""), content_type="text/plain")

    @blueprint.post("/wechat")
    def receive_message() -> Response:
        """One message or event from WeChat: fresh, signed, and no replay of a nonce with another body."""
        args = request.args
        encrypted = args.get("encrypt_type", "raw") == "aes"
        with _refusals():
            if not encrypted and not plaintext_allowed:
                raise Refused("plaintext refused: safe mode (encrypt_type=aes) is configured")
            guard.check_timestamp(args.get("timestamp", ""), args.get("nonce", ""))
            if not encrypted:
                _check_signature(wechat.token, args)
        body = request.get_data(cache=False)
        xml = _decrypt(crypto, body, args) if encrypted else _text(body)
        message = _parse(xml)
        try:
            record = record_from_wechat(message, xml)
        except MalformedMessage as exc:
            abort(400, description=str(exc))
        claim = guard.claim(args["timestamp"], args["nonce"], xml)
        try:
            reply = process(record, claim)
        except NonceReused as reused:
            with _refusals():
                raise Refused("nonce already used for another message") from reused
        except StorageUnavailable:
            log.exception("inbound message not stored; WeChat will retry")
            abort(503, description="temporarily unavailable")
        return _render(reply, message, crypto if encrypted else None, request.args)

    return blueprint


@contextmanager
def _refusals() -> Iterator[None]:
    """A refused check becomes a 403 with its short reason, logged without anything personal."""
    try:
        yield
    except Refused as refused:
        # Never the query string or the body: WeChat puts the sender's openid in both.
        detail = f" ({refused.detail})" if refused.detail else ""
        log.warning("refused %s /wechat from %s: %s%s", request.method, request.remote_addr, refused, detail)
        abort(403, description=refused.reason)


def _check_signature(token: str, args: Mapping[str, str]) -> None:
    try:
        check_signature(token, args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", ""))
    except InvalidSignatureException:
        raise Refused("invalid signature") from None


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        abort(400, description="body is not UTF-8")


def _decrypt(crypto: WeChatCrypto | None, body: bytes, args: Mapping[str, str]) -> str:
    """Verify msg_signature over the Encrypt field and decrypt; 403 when forged, 400 when malformed."""
    if crypto is None:
        abort(400, description="safe mode (encrypt_type=aes) is not configured")
    with _refusals():
        if not args.get("msg_signature"):
            raise Refused("missing msg_signature")
        try:
            return crypto.decrypt_message(
                _text(body), args["msg_signature"], args.get("timestamp", ""), args.get("nonce", "")
            )
        except InvalidSignatureException:
            raise Refused("invalid msg_signature") from None
        except Exception as exc:
            log.info("undecryptable body: %s", type(exc).__name__)
            abort(400, description="cannot decrypt message")


def _parse(xml: str) -> Any:
    if "<!DOCTYPE" in xml.upper():
        # WeChat never sends a DTD; one here can only be an entity trick, so it is not even parsed.
        abort(400, description="DOCTYPE not allowed")
    try:
        message = parse_message(xml)
    except (ExpatError, KeyError, AttributeError, TypeError, ValueError):
        abort(400, description="malformed XML")
    if message is None:
        abort(400, description="empty body")
    return message


def _render(
    reply: str | None, message: Any, crypto: WeChatCrypto | None, args: Mapping[str, str]
) -> Response:
    """A passive text reply, encrypted in safe mode; 'success' acknowledges without one."""
    if not reply:
        return Response("success", content_type="text/plain")
    xml = TextReply(message=message, content=reply).render()
    if crypto is not None:
        xml = crypto.encrypt_message(xml, args.get("nonce", ""), args.get("timestamp"))
    return Response(xml, content_type=XML)
