"""Per-sender flood throttling: past a rate, messages are merged into a ticket, not routed one by one."""

from __future__ import annotations

from datetime import timedelta

from handlers.context import Incoming, Reply, Services
from handlers.tickets.core import link_message, open_ticket, open_tickets
from storage.models import InboundMessage, Resident, Ticket
from storage.outbox import queue_push
from storage.repositories.messages import nth_latest_before, with_status_since

WINDOW = timedelta(minutes=1)
THROTTLED = "throttled"
FLOOD_SUMMARY = "居民短时间内发来大量消息(已合并)"


def is_flooding(services: Services, openid: str) -> bool:
    """More messages from this sender in the last minute (this one included) than the configured limit."""
    limit = services.settings.throttle.messages_per_minute
    if limit <= 0:
        return False
    with services.session.no_autoflush:  # the message itself was flushed by the inbox already
        oldest = nth_latest_before(services.session, openid, services.message_id, limit)
    return oldest is not None and oldest > services.now - WINDOW


def merge_flooded(services: Services, resident: Resident, incoming: Incoming) -> Reply:
    """Keep the message under the sender's open ticket (opening one if none); tell them once per flood."""
    first = not _throttled_recently(services, incoming.openid)
    what = _describe(incoming)
    tickets = open_tickets(services, resident)
    if tickets:
        ticket = tickets[0]
        link_message(services, ticket, incoming.message_id, f"(消息过多,已合并){what}")
        if first:
            _tell_holder(services, ticket)
    else:
        summary = f"{FLOOD_SUMMARY}:{what}"
        ticket = open_ticket(services, resident, "other", summary, message_id=incoming.message_id)
    services.session.get_one(InboundMessage, incoming.message_id).status = THROTTLED
    if not first:
        return Reply(None, ticket.id)
    return Reply(
        f"您短时间内发来的消息较多,后面的消息已合并到工单 #{ticket.id},工作人员会一并查看,请稍候。"
        "如有危险请立即拨打120(急救)、119(火警)或110(报警)。",
        ticket.id,
    )


def _throttled_recently(services: Services, openid: str) -> bool:
    return with_status_since(services.session, openid, THROTTLED, services.now - WINDOW)


def _describe(incoming: Incoming) -> str:
    if incoming.text:
        return incoming.text[:200]
    return {"image": "[图片]", "voice": "[语音]", "location": "[位置]", "event": "[菜单操作]"}.get(
        incoming.msg_type, f"[{incoming.msg_type}]"
    )


def _tell_holder(services: Services, ticket: Ticket) -> None:
    """One push when a flood starts, not one per message, to whoever holds the ticket."""
    if ticket.assignee is None:
        return
    queue_push(
        services.session,
        services.now,
        worker=ticket.assignee,
        kind="follow_up",
        text=f"【消息较多 #{ticket.id}】居民一分钟内连续发来多条消息,后续消息已合并到本工单,请查看工单记录。",
        ticket=ticket,
        message_id=services.message_id,
    )
