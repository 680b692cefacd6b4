"""What each route of the table does with a message: the domain's handler, called with what it needs."""

from __future__ import annotations

from handlers.context import Reply
from handlers.jobs.checkins import note_checkin
from handlers.messages.binding import address_for, handle_binding
from handlers.messages.conversation import handle_chat, handle_help, handle_my_tickets
from handlers.messages.emergency import handle_emergency
from handlers.messages.events import (
    handle_menu_click,
    handle_scan,
    handle_subscribe,
    handle_subscription_event,
    handle_unsubscribe,
)
from handlers.messages.family_commands import handle_family_message
from handlers.messages.flood import is_flooding, merge_flooded
from handlers.messages.media import handle_image, handle_location, handle_voice_without_text
from handlers.messages.requests import handle_request
from handlers.messages.resident_commands import cancel_number, handle_cancel, handle_rating, rating_in
from handlers.messages.worker_commands import handle_worker_message
from handlers.messages.worker_media import handle_worker_media
from handlers.notices.answering import count_answer, notice_reply
from handlers.people.claims import check_code, code_in
from handlers.people.departures import take_over
from handlers.people.family_codes import family_code_in, redeem_family_code
from handlers.people.invites import invite_code_in, redeem_invite
from handlers.people.residents import take_pending_category
from handlers.routing.message import Message
from handlers.tickets.undelivered import record_template_result
from handlers.tickets.urgency import handle_possible_emergency, press_open_ticket

SILENT_EVENTS = frozenset({"view", "location"})
RESIDENT_ONLY_COMMAND = "这是网格员使用的工单指令。如需帮助,请直接说说您遇到的问题;回复“我的工单”可查看进度。"


def record_receipt(message: Message) -> Reply:
    """WeChat's word on a template message settles that push, as the webhook read it; nobody is answered."""
    services, receipt = message.services, message.incoming.receipt
    if receipt is not None:
        max_attempts = services.settings.dispatcher.max_attempts
        record_template_result(services.session, receipt, services.now, max_attempts)
    return Reply(None)


def record_subscription(message: Message) -> Reply:
    """Consent to subscription messages, kept by openid without touching the sender's resident row."""
    incoming = message.incoming
    return handle_subscription_event(message.services, incoming.openid, incoming.subscriptions)


def answer_emergency(message: Message) -> Reply:
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


def follow_elder(message: Message) -> Reply:
    """A family member's code: they follow the elder it was issued for."""
    found = family_code_in(message.text)
    assert found is not None
    return redeem_family_code(message.services, message.resident, found[0])


def family_command(message: Message) -> Reply | None:
    """A family member's or an elder's word about following (我来联系 passes on from a non-follower)."""
    return handle_family_message(message.services, message.resident, message.text)


def redeem(message: Message) -> Reply:
    code = invite_code_in(message.text)
    assert code is not None
    return redeem_invite(message.services, message.incoming.openid, code, take_over)


def attach_worker_media(message: Message) -> Reply:
    assert message.worker is not None
    return handle_worker_media(message.services, message.worker, message.incoming)


def worker_message(message: Message) -> Reply:
    assert message.worker is not None
    return handle_worker_message(message.services, message.worker, message.text)


def merge_into_flood(message: Message) -> Reply:
    return merge_flooded(message.services, message.resident, message.incoming)


def checkin(message: Message) -> Reply | None:
    """Any message counts as today's check-in; a plain "1" or "2" answering it is handled there."""
    return note_checkin(message.services, message.resident, message.incoming)


def handle_event(message: Message) -> Reply:
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


def handle_media(message: Message) -> Reply:
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


def take_rating(message: Message) -> Reply:
    score = rating_in(message.normalized)
    assert message.rated is not None and score is not None
    return handle_rating(message.services, message.rated, score)


def cancel_ticket(message: Message) -> Reply:
    return handle_cancel(message.services, message.resident, cancel_number(message.normalized)[1])


def explain_worker_command(_message: Message) -> Reply:
    return Reply(RESIDENT_ONLY_COMMAND)


def check_binding_code(message: Message) -> Reply:
    found = code_in(message.normalized)
    assert found is not None
    return check_code(message.services, message.resident, found[0])


def bind_address(message: Message) -> Reply:
    address = address_for(message.resident, message.normalized)
    return handle_binding(message.services, message.resident, address, message.incoming.message_id)


def list_my_tickets(message: Message) -> Reply:
    return handle_my_tickets(message.services, message.resident)


def open_request(message: Message) -> Reply:
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
        open_now=message.open_tickets,
    )


def answer_with_notice(message: Message) -> Reply:
    """The notice and its expected end instead of a new ticket; said in distress, a ticket as well."""
    services, notice, classification = message.services, message.notice, message.classification
    assert notice is not None and classification is not None
    count_answer(services.session, notice)
    timezone = services.settings.timezone
    if classification.distressed:  # "停水了怎么办": the notice, and a person who will call them
        opened = open_request(message)
        said = notice_reply(notice, timezone, how_to_report=False)
        return Reply(f"{said}\n{opened.text}", opened.ticket_id)
    take_pending_category(services, message.resident)  # a tap on 报修 before it is used up here too
    return Reply(notice_reply(notice, timezone))


def after_menu_tap(message: Message) -> Reply | None:
    """Text after a tap on 报修/缴费/买药 belongs to that category, as long as the tap is fresh."""
    pending = take_pending_category(message.services, message.resident)
    if pending is None:
        return None
    return handle_request(
        message.services, message.resident, pending, message.text, message_id=message.incoming.message_id
    )


def press(message: Message) -> Reply | None:
    """Urgency ("急", "快点") about a ticket already open: that ticket is raised."""
    return press_open_ticket(message.services, message.resident, message.text, message.incoming.message_id)


def answer_possible_emergency(message: Message) -> Reply:
    return handle_possible_emergency(
        message.services, message.resident, message.text, message.incoming.message_id
    )


def pass_to_a_person(message: Message) -> Reply:
    text = f"居民请求人工联系:{message.text}"
    return handle_request(
        message.services, message.resident, "inquiry", text, message_id=message.incoming.message_id
    )


def answer_chat(message: Message) -> Reply:
    return handle_chat(message.classification.matched if message.classification else ())


def give_help(message: Message) -> Reply:
    return handle_help(message.services)


def leave_a_message(message: Message) -> Reply:
    """Nothing recognised: a person reads it rather than a resident's message going nowhere."""
    return handle_request(
        message.services, message.resident, "other", message.text, message_id=message.incoming.message_id
    )
