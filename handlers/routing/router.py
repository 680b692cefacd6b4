"""Picks the one handler for a message from one ordered table: emergency first, for every sender.

Every message is classified once (text and voice transcripts), then ROUTES is read top to bottom: the
first route whose condition holds handles the message. A handler may return None to pass the message
on (a check-in answer that only counted as a sign of life). The order is the product's promise, and
tests/unit/test_routing_table.py pins it: a cry for help wins over a family code, a worker's commands, an
invite code, a flood, a check-in answer, a family member's 我来联系, a pending rating and a half-finished
binding (or a binding code); a notice of an outage answers a report of it, but never before an emergency.
The conditions (`when`) and what each route does (`do`) live in handlers/routing/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from handlers.context import Incoming, Reply, Services
from handlers.messages.conversation import handle_help
from handlers.messages.held_news import with_held_line
from handlers.routing import actions as do
from handlers.routing import conditions as when
from handlers.routing.message import Message


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
                return _mention_held_news(message, row.name, reply)
            message.forget_tickets()
    return _mention_held_news(message, "help", handle_help(services))


# Replies that carry no line about held news: a cry for help reads only what to do now.
WITHOUT_HELD_NEWS = frozenset({"emergency", "possible_emergency", "my_tickets", "template_receipt"})


def _mention_held_news(message: Message, route_name: str, reply: Reply) -> Reply:
    """A resident's reply tells of the updates held for their next message (not beside an emergency's
    advice, a possible emergency's safety line included, and not where 我的工单 lists them anyway)."""
    if route_name in WITHOUT_HELD_NEWS or message.worker is not None:
        return reply
    return with_held_line(message.services, message.incoming.openid, reply)


ROUTES: tuple[Route, ...] = (
    Route("template_receipt", when.template_receipt, do.record_receipt),
    Route("subscription", when.subscription_event, do.record_subscription),
    Route("emergency", when.emergency, do.answer_emergency),
    Route("family_code", when.family_code, do.follow_elder),
    Route("invite_code", when.invite_code, do.redeem),
    Route("worker", when.from_worker, do.worker_message),
    Route("worker_media", when.worker_media, do.attach_worker_media),
    Route("flood", when.flooding, do.merge_into_flood),
    Route("checkin_answer", when.always, do.checkin),
    Route("family", when.family_message, do.family_command),
    Route("event", when.is_event, do.handle_event),
    Route("media", when.not_text, do.handle_media),
    Route("rating", when.rating, do.take_rating),
    Route("cancel", when.cancel, do.cancel_ticket),
    Route("worker_command_from_resident", when.worker_command_from_resident, do.explain_worker_command),
    Route("binding_code", when.binding_code, do.check_binding_code),
    Route("binding", when.binding, do.bind_address),
    Route("my_tickets", when.my_tickets, do.list_my_tickets),
    Route("notice", when.outage_under_notice, do.answer_with_notice),
    Route("request", when.classified_request, do.open_request),
    Route("menu_category", when.always, do.after_menu_tap),
    Route("urgent_follow_up", when.urgent, do.press),
    Route("possible_emergency", when.possible_emergency, do.answer_possible_emergency),
    Route("wants_a_person", when.wants_a_person, do.pass_to_a_person),
    Route("chat", when.chat, do.answer_chat),
    Route("help", when.asks_for_help, do.give_help),
    Route("message", when.always, do.leave_a_message),
)
