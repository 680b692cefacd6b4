"""Picks the one handler for a message from one ordered table: emergency first, for every sender.

Every message is classified once (text and voice transcripts), then ROUTES is read top to bottom: the
first route whose condition holds handles the message. A handler may return None to pass the message
on (a check-in answer that only counted as a sign of life). The order is the product's promise, and
tests/unit/test_routing_table.py pins it: a cry for help wins over a worker's commands, an invite code,
a flood, a check-in answer, a pending rating and a half-finished binding (or a binding code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import select

from bot.outcomes import record_template_result
from handlers.binding import address_for, handle_binding, looks_like_binding
from handlers.checkins import note_checkin
from handlers.claims import check_code, code_in, has_open_claim
from handlers.context import Incoming, Reply, Services
from handlers.conversation import handle_chat, handle_help, handle_my_tickets
from handlers.departures import take_over
from handlers.emergency import handle_emergency
from handlers.events import handle_menu_click, handle_scan, handle_subscribe, handle_unsubscribe
from handlers.flood import is_flooding, merge_flooded
from handlers.invites import invite_code_in, redeem_invite
from handlers.language.intents import Classification
from handlers.language.normalize import normalize
from handlers.media import handle_image, handle_location, handle_voice_without_text
from handlers.requests import handle_request
from handlers.resident_commands import awaiting_rating, cancel_number, handle_cancel, handle_rating, rating_in
from handlers.residents import resident_for, take_pending_category
from handlers.urgency import handle_possible_emergency, press_open_ticket
from handlers.worker_commands import handle_worker_message, is_worker_command, looks_like_worker_command
from handlers.worker_media import handle_worker_media
from storage.models import Resident, Ticket, Worker

MY_TICKETS = frozenset({"我的工单", "查工单", "查询工单", "工单进度", "查进度", "我的报修"})
HELP_WORDS = frozenset({"", "帮助", "help", "菜单", "功能", "怎么用"})
HUMAN_WORDS = ("人工", "找网格员", "叫网格员", "网格员联系我", "找社区", "找工作人员")
SILENT_EVENTS = frozenset({"view", "location"})
RESIDENT_ONLY_COMMAND = "这是网格员使用的工单指令。如需帮助,请直接说说您遇到的问题;回复“我的工单”可查看进度。"


@dataclass
class Message:
    """One message being routed: classified once, its sender looked up once and only when needed."""

    services: Services
    incoming: Incoming
    classification: Classification | None

    @cached_property
    def text(self) -> str:
        """The text or transcript ('' for other messages)."""
        return self.incoming.text or ""

    @cached_property
    def normalized(self) -> str:
        """The text as the rules see it."""
        return normalize(self.text)

    @cached_property
    def is_text(self) -> bool:
        """Text, or a voice message with a transcript."""
        return bool(self.incoming.text) and self.incoming.msg_type in ("text", "voice")

    @cached_property
    def event(self) -> str:
        """The event's name in lower case ('' for messages)."""
        return (self.incoming.event or "").lower() if self.incoming.msg_type == "event" else ""

    @cached_property
    def worker(self) -> Worker | None:
        """The bound worker who sent it, if the sender is one."""
        query = select(Worker).where(Worker.openid == self.incoming.openid)
        return self.services.session.scalar(query)

    @cached_property
    def resident(self) -> Resident:
        """The sender as a resident (created on first contact)."""
        return resident_for(self.services, self.incoming.openid)

    @cached_property
    def rated(self) -> Ticket | None:
        """The resolved ticket waiting for this resident's rating."""
        return awaiting_rating(self.services, self.resident)

    @property
    def category(self) -> str:
        """The classified category ('other' for messages without text)."""
        return self.classification.category if self.classification else "other"


@dataclass(frozen=True)
class Route:
    """One row of the routing table: a name, when it applies, and who handles it."""

    name: str
    applies: Callable[[Message], bool]
    handle: Callable[[Message], Reply | None]


def route(services: Services, incoming: Incoming) -> Reply:
    """Handle one verified message or event and return what the sender sees."""
    text = incoming.text if incoming.msg_type in ("text", "voice") else None
    message = Message(services, incoming, services.classifier.classify(text) if text else None)
    for row in ROUTES:
        if row.applies(message):
            reply = row.handle(message)
            if reply is not None:
                return reply
    return handle_help(services)


def _template_receipt(message: Message) -> bool:
    """WeChat reporting a template's fate: not the resident writing to us."""
    return message.event == "templatesendjobfinish"


def _record_receipt(message: Message) -> Reply:
    """WeChat's word on a template message settles that push, as the webhook read it; nobody is answered."""
    services, receipt = message.services, message.incoming.receipt
    if receipt is not None:
        max_attempts = services.settings.dispatcher.max_attempts
        record_template_result(services.session, receipt, services.now, max_attempts)
    return Reply(None)


def _emergency(message: Message) -> bool:
    """A cry for help; a worker's own command about one ("办结 12 老人摔伤已送医") is still a command."""
    return message.category == "emergency" and not _worker_command_from_worker(message)


def _worker_command_from_worker(message: Message) -> bool:
    """A bound worker's command, typed or said ("办结 3" as a voice transcript)."""
    return message.is_text and message.worker is not None and is_worker_command(message.text)


def _handle_emergency(message: Message) -> Reply:
    """Whoever sent it (a worker too), in whatever state: the emergency path, and a check-in noted."""
    services, resident = message.services, message.resident
    note_checkin(services, resident, message.incoming)  # an elder's cry for help is also a sign of life
    assert message.classification is not None
    flooding = is_flooding(services, message.incoming.openid)
    return handle_emergency(
        services,
        resident,
        message.text,
        kind=message.classification.kind,
        message_id=message.incoming.message_id,
        page_again=not flooding,
    )


def _invite_code(message: Message) -> bool:
    return message.incoming.msg_type == "text" and invite_code_in(message.text) is not None


def _redeem(message: Message) -> Reply:
    code = invite_code_in(message.text)
    assert code is not None
    return redeem_invite(message.services, message.incoming.openid, code, take_over)


def _from_worker(message: Message) -> bool:
    """A worker's text, or a voice message whose transcript is one of their commands."""
    if message.incoming.msg_type == "voice":
        return _worker_command_from_worker(message)
    return message.incoming.msg_type == "text" and bool(message.text) and message.worker is not None


def _worker_media(message: Message) -> bool:
    """A worker's photo or voice: it belongs to their work, never to a resident's ticket."""
    return message.incoming.msg_type in ("image", "voice") and message.worker is not None


def _attach_worker_media(message: Message) -> Reply:
    assert message.worker is not None
    return handle_worker_media(message.services, message.worker, message.incoming)


def _worker_message(message: Message) -> Reply:
    assert message.worker is not None
    return handle_worker_message(message.services, message.worker, message.text)


def _flooding(message: Message) -> bool:
    return is_flooding(message.services, message.incoming.openid)


def _merge_flooded(message: Message) -> Reply:
    return merge_flooded(message.services, message.resident, message.incoming)


def _always(_message: Message) -> bool:
    return True


def _checkin(message: Message) -> Reply | None:
    """Any message counts as today's check-in; a plain "1" or "2" answering it is handled there."""
    return note_checkin(message.services, message.resident, message.incoming)


def _is_event(message: Message) -> bool:
    return message.incoming.msg_type == "event"


def _handle_event(message: Message) -> Reply:
    services, resident, incoming = message.services, message.resident, message.incoming
    event = message.event
    if event in ("subscribe", "subscribe_scan"):
        return handle_subscribe(services, resident, incoming.event_key, incoming.message_id)
    if event == "scan":
        return handle_scan(services, resident, incoming.event_key, incoming.message_id)
    if event == "unsubscribe":
        return handle_unsubscribe(resident)
    if event == "click":
        return handle_menu_click(services, resident, incoming.event_key, incoming.message_id)
    if event in SILENT_EVENTS:
        return Reply(None)
    return handle_help(services)


def _not_text(message: Message) -> bool:
    return not message.is_text


def _handle_media(message: Message) -> Reply:
    services, resident, incoming = message.services, message.resident, message.incoming
    if incoming.msg_type == "voice":
        return handle_voice_without_text(
            services, resident, incoming, take_pending_category(services, resident)
        )
    if incoming.msg_type == "image":
        return handle_image(services, resident, incoming, take_pending_category(services, resident))
    if incoming.msg_type == "location":
        return handle_location(services, resident, incoming)
    return handle_help(services)


def _rating(message: Message) -> bool:
    return message.rated is not None and rating_in(message.normalized) is not None


def _handle_rating(message: Message) -> Reply:
    score = rating_in(message.normalized)
    assert message.rated is not None and score is not None
    return handle_rating(message.services, message.rated, score)


def _cancel(message: Message) -> bool:
    return cancel_number(message.normalized)[0]


def _handle_cancel(message: Message) -> Reply:
    return handle_cancel(message.services, message.resident, cancel_number(message.normalized)[1])


def _worker_command_from_resident(message: Message) -> bool:
    return looks_like_worker_command(message.text)


def _explain_worker_command(_message: Message) -> Reply:
    return Reply(RESIDENT_ONLY_COMMAND)


def _binding_code(message: Message) -> bool:
    """Six digits said as a code ("绑定码 483920"), or bare from someone waiting to prove a claim."""
    found = code_in(message.normalized)
    if found is None:
        return False
    said_as_code = found[1]
    return said_as_code or has_open_claim(message.services.session, message.resident)


def _check_binding_code(message: Message) -> Reply:
    found = code_in(message.normalized)
    assert found is not None
    return check_code(message.services, message.resident, found[0])


def _binding(message: Message) -> bool:
    return (
        looks_like_binding(message.normalized)
        or address_for(message.resident, message.normalized) is not None
    )


def _handle_binding(message: Message) -> Reply:
    address = address_for(message.resident, message.normalized)
    return handle_binding(message.services, message.resident, address, message.incoming.message_id)


def _my_tickets(message: Message) -> bool:
    return message.normalized in MY_TICKETS


def _list_my_tickets(message: Message) -> Reply:
    return handle_my_tickets(message.services, message.resident)


def _classified_request(message: Message) -> bool:
    """A category the rules placed, unless it is only a weak question said in distress."""
    classification = message.classification
    return message.category != "other" and not (classification and classification.possible_emergency)


def _handle_request(message: Message) -> Reply:
    assert message.classification is not None
    services, classification = message.services, message.classification
    take_pending_category(services, message.resident)  # the words say what this is; the tap is used up
    return handle_request(
        services,
        message.resident,
        classification.category,
        message.text,
        kind=classification.kind,
        message_id=message.incoming.message_id,
        urgent=classification.urgent,
    )


def _after_menu_tap(message: Message) -> Reply | None:
    """Text after a tap on 报修/缴费/买药 belongs to that category, as long as the tap is fresh."""
    pending = take_pending_category(message.services, message.resident)
    if pending is None:
        return None
    return handle_request(
        message.services, message.resident, pending, message.text, message_id=message.incoming.message_id
    )


def _urgent(message: Message) -> bool:
    return message.classification is not None and message.classification.urgent


def _press(message: Message) -> Reply | None:
    """Urgency ("急", "快点") about a ticket already open: that ticket is raised."""
    return press_open_ticket(message.services, message.resident, message.text, message.incoming.message_id)


def _possible_emergency(message: Message) -> bool:
    return message.classification is not None and message.classification.possible_emergency


def _handle_possible_emergency(message: Message) -> Reply:
    return handle_possible_emergency(
        message.services, message.resident, message.text, message.incoming.message_id
    )


def _wants_a_person(message: Message) -> bool:
    return any(word in message.normalized for word in HUMAN_WORDS)


def _handle_wants_a_person(message: Message) -> Reply:
    text = f"居民请求人工联系:{message.text}"
    return handle_request(
        message.services, message.resident, "inquiry", text, message_id=message.incoming.message_id
    )


def _chat(message: Message) -> bool:
    return message.classification is not None and message.classification.is_chat


def _answer_chat(message: Message) -> Reply:
    return handle_chat(message.classification.matched if message.classification else ())


def _give_help(message: Message) -> Reply:
    return handle_help(message.services)


def _asks_for_help(message: Message) -> bool:
    return message.normalized in HELP_WORDS


def _leave_a_message(message: Message) -> Reply:
    """Nothing recognised: a person reads it rather than a resident's message going nowhere."""
    return handle_request(
        message.services, message.resident, "other", message.text, message_id=message.incoming.message_id
    )


ROUTES: tuple[Route, ...] = (
    Route("template_receipt", _template_receipt, _record_receipt),
    Route("emergency", _emergency, _handle_emergency),
    Route("invite_code", _invite_code, _redeem),
    Route("worker", _from_worker, _worker_message),
    Route("worker_media", _worker_media, _attach_worker_media),
    Route("flood", _flooding, _merge_flooded),
    Route("checkin_answer", _always, _checkin),
    Route("event", _is_event, _handle_event),
    Route("media", _not_text, _handle_media),
    Route("rating", _rating, _handle_rating),
    Route("cancel", _cancel, _handle_cancel),
    Route("worker_command_from_resident", _worker_command_from_resident, _explain_worker_command),
    Route("binding_code", _binding_code, _check_binding_code),
    Route("binding", _binding, _handle_binding),
    Route("my_tickets", _my_tickets, _list_my_tickets),
    Route("request", _classified_request, _handle_request),
    Route("menu_category", _always, _after_menu_tap),
    Route("urgent_follow_up", _urgent, _press),
    Route("possible_emergency", _possible_emergency, _handle_possible_emergency),
    Route("wants_a_person", _wants_a_person, _handle_wants_a_person),
    Route("chat", _chat, _answer_chat),
    Route("help", _asks_for_help, _give_help),
    Route("message", _always, _leave_a_message),
)
