"""While the database is away: keep the message in the spool and answer at once, emergency advice first."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.inbound_record import InboundRecord
from bot.inbox import StorageUnavailable
from bot.quick_replies import QuickTexts, quick_reply
from bot.spool.file import Spool
from bot.spool.records import SpooledMessage
from handlers.language.intents import IntentClassifier
from handlers.language.privacy import mask_openid
from storage.nonces import NonceClaim

log = logging.getLogger(__name__)

RECEIVED = "已收到您的消息,系统稍后处理。如遇紧急情况,请直接拨打110、120或119。"
EMERGENCY_NOTED = "您的求助已经记下,系统一恢复就通知网格员。"
OFFLINE = QuickTexts(message=RECEIVED, event=RECEIVED, emergency_note=EMERGENCY_NOTED)


def with_spool(
    process: Callable[[InboundRecord, NonceClaim], str | None],
    spool: Spool,
    reply_offline: Callable[[InboundRecord], str | None],
    clock: Callable[[], datetime],
) -> Callable[[InboundRecord, NonceClaim], str | None]:
    """process, keeping the message (and its nonce's claim) in the spool when the database is away."""

    def process_or_keep(record: InboundRecord, claim: NonceClaim) -> str | None:
        try:
            return process(record, claim)
        except StorageUnavailable:
            try:
                spool.keep(SpooledMessage(record, clock(), claim))
            except OSError as exc:
                log.error("spool %s: cannot keep a message either: %s", spool.path, exc)
                raise StorageUnavailable(
                    "neither the database nor the spool took the message", away=True
                ) from exc
            incoming = record.incoming
            log.warning("kept a %s from %s in the spool", incoming.msg_type, mask_openid(incoming.openid))
            return reply_offline(record)

    return process_or_keep


def offline_reply(record: InboundRecord, classifier: IntentClassifier, duty_phone: str) -> str | None:
    """The passive reply while the database is away: the emergency advice at once, or that it will wait."""
    return quick_reply(record, classifier, duty_phone, OFFLINE).text
