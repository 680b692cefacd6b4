"""Requests that open an ordinary ticket: repair, bill, medicine, health, dispute, inquiry, other."""

from __future__ import annotations

from handlers.context import Reply, Services
from handlers.texts import ASK_ADDRESS, CATEGORY_LABELS, STATUS_LABELS, duration
from handlers.tickets.core import assignee_phrase, attach_message, open_ticket, open_tickets
from handlers.tickets.urgency import raise_ticket
from storage.models import Resident, Ticket

HINTS = {
    "bill": "办理时请准备好户号或缴费卡号。",
    "medicine": "请把药名、规格和数量告诉我们,也可以拍一张药盒的照片发过来。",
    "health": "如果情况突然加重,请直接拨打120。",
    "dispute": "网格员会先了解情况,再约双方一起协调。",
    "inquiry": "",
    "other": "网格员会看到您的留言并联系您。",
}

REPAIR_HINTS = {
    "water": "漏水严重的话,请先关闭家里的总水阀。",
    "power": "请先不要触碰电线和开关,注意安全。",
    "gas": "如果闻到煤气味,请立即关闭燃气阀门、打开窗户,不要开关电器。",
    "elevator": "如有人被困电梯,请按电梯里的警铃或拨打电梯内的救援电话。",
}


def handle_request(
    services: Services,
    resident: Resident,
    category: str,
    summary: str,
    *,
    kind: str | None = None,
    message_id: int | None = None,
    urgent: bool = False,
    receipt: str | None = None,
    open_now: list[Ticket] | None = None,
) -> Reply:
    """Open a ticket of this category (or add to the open one about the same thing) and say who helps.

    An urgent follow-up ("急", "快点") about the same thing raises the open ticket. `receipt` words the
    acknowledgement of a new ticket ("已收到您的语音留言") when the message was not words. `open_now` is
    the resident's open tickets when the router has just read them (handlers/routing/message.py).
    """
    same = same_open_ticket(services, resident, category, kind, open_now)
    if same is not None and urgent:
        return raise_ticket(services, same, summary, message_id)
    if same is not None:
        return add_to_open_ticket(services, same, summary, message_id)
    ticket = open_ticket(services, resident, category, summary, kind=kind, message_id=message_id)
    hint = REPAIR_HINTS.get(kind or "", "") if category == "repair" else HINTS.get(category, "")
    return Reply(confirmation(ticket, hint, receipt), ticket.id)


def same_open_ticket(
    services: Services,
    resident: Resident,
    category: str,
    kind: str | None,
    open_now: list[Ticket] | None = None,
) -> Ticket | None:
    """The resident's open ticket about the same thing: same category, and same kind when both have one."""
    for ticket in open_tickets(services, resident) if open_now is None else open_now:
        if ticket.category == category and (kind is None or ticket.kind is None or ticket.kind == kind):
            return ticket
    return None


def add_to_open_ticket(services: Services, ticket: Ticket, text: str, message_id: int | None) -> Reply:
    """A repeat goes to the ticket already open, and to whoever holds it."""
    if message_id is not None:
        attach_message(services, ticket, message_id, f"再次来信:{text}")
    status = STATUS_LABELS[ticket.status]
    return Reply(
        f"您反映的问题已在工单 #{ticket.id} 中办理({status}),这条消息已转给{assignee_phrase(ticket)}。"
        f"回复“我的工单”可以查看进度。",
        ticket.id,
    )


def confirmation(ticket: Ticket, hint: str = "", receipt: str | None = None) -> str:
    """The resident's receipt: ticket number, the named helper, the time they will hear back."""
    receipt = receipt or f"已收到您的{CATEGORY_LABELS[ticket.category]}请求"
    minutes = int((ticket.ack_due_at - ticket.created_at).total_seconds() // 60)
    lines = [
        f"{receipt},工单号 #{ticket.id}。",
        f"{assignee_phrase(ticket, with_phone=True)}会在{duration(minutes)}内联系您。{hint}".rstrip(),
    ]
    if ticket.resident.building is None:
        lines.append(ASK_ADDRESS)
    return "\n".join(lines)
