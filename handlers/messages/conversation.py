"""Replies that open no ticket: chit-chat, help, and the resident's own ticket list."""

from __future__ import annotations

from handlers.context import Reply, Services
from handlers.messages.held_news import show_held
from handlers.texts import CATEGORY_LABELS, HELP, STATUS_LABELS, local_time
from handlers.tickets.core import assignee_phrase, open_tickets
from storage.models import Resident

THANKS = ("谢", "辛苦", "感谢")


def handle_chat(matched: tuple[str, ...]) -> Reply:
    """A friendly answer to thanks and greetings."""
    if any(word in keyword for keyword in matched for word in THANKS):
        return Reply("不客气,这是我们应该做的!有需要随时找我们。")
    return Reply("您好!有什么需要帮忙的,直接发文字或语音告诉我们就行。")


def handle_help(services: Services) -> Reply:
    """What residents can do here."""
    return Reply(HELP.format(community=services.settings.community_name))


def handle_my_tickets(services: Services, resident: Resident) -> Reply:
    """The resident's open tickets with status and who holds them, and the updates held for them."""
    tickets = open_tickets(services, resident)
    held = show_held(services, resident.openid)
    if not tickets:
        return Reply("\n".join(["您目前没有正在办理的工单。有需要随时告诉我们。", *held]))
    lines = [f"您有{len(tickets)}个正在办理的工单:"]
    for ticket in tickets[:10]:
        when = local_time(ticket.created_at, services.settings.timezone)
        lines.append(
            f"#{ticket.id} {CATEGORY_LABELS[ticket.category]} · {STATUS_LABELS[ticket.status]} · "
            f"{assignee_phrase(ticket)} · {when}"
        )
    return Reply("\n".join([*lines, *held]))
