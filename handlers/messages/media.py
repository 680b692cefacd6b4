"""Voice messages without a transcript, photos and locations."""

from __future__ import annotations

from handlers.context import Incoming, Reply, Services
from handlers.messages.requests import handle_request
from handlers.texts import CATEGORY_LABELS
from handlers.tickets.core import attach_message, open_tickets
from storage.models import Resident


def handle_voice_without_text(
    services: Services, resident: Resident, incoming: Incoming, category: str | None
) -> Reply:
    """No transcript: still a ticket, so the worker calls back and can play the voice message."""
    summary = "语音留言(没有文字转写,请回电或收听语音)"
    label = CATEGORY_LABELS[category] if category else ""
    return handle_request(
        services,
        resident,
        category or "other",
        summary,
        kind="voice",
        message_id=incoming.message_id,
        receipt=f"已收到您的{label}语音留言",
    )


def handle_image(services: Services, resident: Resident, incoming: Incoming, category: str | None) -> Reply:
    """A photo belongs to the latest open ticket; with none, it opens one."""
    tickets = open_tickets(services, resident)
    if tickets and category is None:
        ticket = tickets[0]
        attach_message(services, ticket, incoming.message_id, "补充了一张照片")
        return Reply(f"照片已收到,已附在工单 #{ticket.id},负责的工作人员能看到。", ticket.id)
    return handle_request(
        services,
        resident,
        category or "other",
        "图片留言(请查看照片)",
        message_id=incoming.message_id,
        receipt="照片已收到",
    )


def handle_location(services: Services, resident: Resident, incoming: Incoming) -> Reply:
    """Keep the location on the message, and pass it to whoever holds the latest open ticket."""
    place = incoming.label or f"{incoming.latitude},{incoming.longitude}"
    tickets = open_tickets(services, resident)
    if not tickets:
        return Reply(f"已收到您的位置:{place}。有什么需要帮忙的,请直接告诉我们。")
    ticket = tickets[0]
    attach_message(services, ticket, incoming.message_id, f"发送了位置:{place}")
    return Reply(f"已收到您的位置,已转给负责工单 #{ticket.id} 的工作人员。", ticket.id)
