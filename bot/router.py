"""Picks the one handler for a message: by type and event, and for text by intent. Emergency first."""

from __future__ import annotations

from sqlalchemy import select

from bot.normalize import normalize
from bot.outcomes import record_template_xml
from handlers.binding import address_for, handle_binding, looks_like_binding
from handlers.checkins import note_checkin
from handlers.context import Incoming, Reply, Services
from handlers.conversation import handle_chat, handle_help, handle_my_tickets
from handlers.emergency import handle_emergency
from handlers.events import handle_menu_click, handle_scan, handle_subscribe, handle_unsubscribe
from handlers.flood import is_flooding, merge_flooded
from handlers.invites import invite_code_in, redeem_invite
from handlers.media import handle_image, handle_location, handle_voice_without_text
from handlers.requests import handle_request
from handlers.resident_commands import awaiting_rating, cancel_number, handle_cancel, handle_rating, rating_in
from handlers.residents import resident_for, take_pending_category
from handlers.tickets import open_tickets
from handlers.worker_commands import handle_worker_message, looks_like_worker_command
from storage.models import InboundMessage, Resident, Worker

MY_TICKETS = frozenset({"我的工单", "查工单", "查询工单", "工单进度", "查进度", "我的报修"})
HELP_WORDS = frozenset({"", "帮助", "help", "菜单", "功能", "怎么用"})
HUMAN_WORDS = ("人工", "找网格员", "叫网格员", "网格员联系我", "找社区", "找工作人员")
SILENT_EVENTS = frozenset({"view", "location"})


def route(services: Services, incoming: Incoming) -> Reply:
    """Handle one verified message or event and return what the sender sees."""
    if incoming.msg_type == "event" and (incoming.event or "").lower() == "templatesendjobfinish":
        # WeChat reporting a template's fate is not the resident writing to us.
        raw = services.session.get_one(InboundMessage, incoming.message_id).raw
        record_template_xml(services.session, raw, services.now, services.settings.dispatcher.max_attempts)
        return Reply(None)
    if incoming.msg_type == "text" and incoming.text:
        code = invite_code_in(incoming.text)
        if code is not None:
            return redeem_invite(services, incoming.openid, code)
        worker = services.session.scalar(select(Worker).where(Worker.openid == incoming.openid))
        if worker is not None:
            return handle_worker_message(services, worker, incoming.text)
    resident = resident_for(services, incoming.openid)
    if is_flooding(services, incoming.openid) and not _new_emergency(services, resident, incoming):
        return merge_flooded(services, resident, incoming)
    # Any message counts as today's check-in; a plain "1" or "2" answering it is handled there.
    answered = note_checkin(services, resident, incoming)
    if answered is not None:
        return answered
    if incoming.msg_type == "event":
        return _route_event(services, resident, incoming)
    if incoming.msg_type == "text" or (incoming.msg_type == "voice" and incoming.text):
        return route_text(services, resident, incoming.text or "", incoming.message_id)
    if incoming.msg_type == "voice":
        category = take_pending_category(services, resident)
        return handle_voice_without_text(services, resident, incoming, category)
    if incoming.msg_type == "image":
        return handle_image(services, resident, incoming, take_pending_category(services, resident))
    if incoming.msg_type == "location":
        return handle_location(services, resident, incoming)
    return handle_help(services)


def route_text(services: Services, resident: Resident, text: str, message_id: int) -> Reply:
    """Text and voice transcripts: emergency, then commands, then the classified request."""
    result = services.classifier.classify(text)
    if result.category == "emergency":
        return handle_emergency(services, resident, text, kind=result.kind, message_id=message_id)
    normalized = normalize(text)
    rated = awaiting_rating(services, resident)
    score = rating_in(normalized) if rated is not None else None
    if rated is not None and score is not None:
        return handle_rating(services, rated, score)
    is_cancel, number = cancel_number(normalized)
    if is_cancel:
        return handle_cancel(services, resident, number)
    if looks_like_worker_command(text):
        return Reply("这是网格员使用的工单指令。如需帮助,请直接说说您遇到的问题;回复“我的工单”可查看进度。")
    address = address_for(resident, normalized)
    if looks_like_binding(normalized) or address is not None:
        return handle_binding(services, resident, address, message_id)
    if normalized in MY_TICKETS:
        return handle_my_tickets(services, resident)
    pending = take_pending_category(services, resident)
    if result.category != "other":
        return handle_request(
            services, resident, result.category, text, kind=result.kind, message_id=message_id
        )
    if pending is not None:
        return handle_request(services, resident, pending, text, message_id=message_id)
    if any(word in normalized for word in HUMAN_WORDS):
        return handle_request(
            services, resident, "inquiry", f"居民请求人工联系:{text}", message_id=message_id
        )
    if result.is_chat:
        return handle_chat(result.matched)
    if normalized in HELP_WORDS:
        return handle_help(services)
    # Nothing recognised: a person reads it rather than a resident's message going nowhere.
    return handle_request(services, resident, "other", text, message_id=message_id)


def _new_emergency(services: Services, resident: Resident, incoming: Incoming) -> bool:
    """A flood never hides a first cry for help: an emergency with none open yet is routed as usual."""
    if not incoming.text or services.classifier.classify(incoming.text).category != "emergency":
        return False
    return not any(ticket.category == "emergency" for ticket in open_tickets(services, resident))


def _route_event(services: Services, resident: Resident, incoming: Incoming) -> Reply:
    event = (incoming.event or "").lower()
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
