"""The reply a message gets at once when it is handled later: emergency advice first, or that it is in hand.

Two paths answer before handling: the spool, while the database is away (bot/spool/), and the inbox queue,
under overload (bot/inbox_workers.py). Both classify the message first, so an emergency's sender reads
what to do right now in the very first reply, whatever happens to the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.inbound_record import InboundRecord
from bot.inbox import QuickReply
from handlers.language.intents import IntentClassifier
from handlers.messages.emergency import advice_for
from handlers.messages.events import MENU_SOS

# Events WeChat shows no reply to, or that need none.
SILENT_EVENTS = frozenset({"templatesendjobfinish", "unsubscribe", "view", "location"})


@dataclass(frozen=True)
class QuickTexts:
    """What a path says at once: to a message, to an event, and after an emergency's advice; and to a
    message the classifier places as a request, when that is worth saying apart (a ticket will follow)."""

    message: str
    event: str
    emergency_note: str
    request: str | None = None


def quick_reply(
    record: InboundRecord, classifier: IntentClassifier, duty_phone: str, texts: QuickTexts
) -> QuickReply:
    """The reply before handling, and whether the message is an emergency (a menu SOS tap counts)."""
    incoming = record.incoming
    if incoming.msg_type == "event":
        event = (incoming.event or "").lower()
        if event == "click" and incoming.event_key == MENU_SOS:
            return QuickReply(_emergency_text(None, duty_phone, texts), urgent=True)
        return QuickReply(None if event in SILENT_EVENTS else texts.event)
    if incoming.msg_type in ("text", "voice") and incoming.text:
        classification = classifier.classify(incoming.text)
        if classification.category == "emergency":
            return QuickReply(_emergency_text(classification.kind, duty_phone, texts), urgent=True)
        if texts.request and classification.category != "other":
            return QuickReply(texts.request)
    return QuickReply(texts.message)


def _emergency_text(kind: str | None, duty_phone: str, texts: QuickTexts) -> str:
    return "\n".join([advice_for(kind), texts.emergency_note, f"社区值班电话:{duty_phone}"])
