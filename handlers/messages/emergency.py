"""Emergencies: tell the resident what to do right now, and page the worker and the leader at once."""

from __future__ import annotations

from handlers.context import Reply, Services
from handlers.messages.requests import same_open_ticket
from handlers.tickets.core import assignee_phrase, link_message, open_ticket, worker_title
from storage.models import Resident, Ticket
from storage.outbox import queue_push

ADVICE = {
    "medical": "请立即拨打120急救电话!",
    "fire": "请立即拨打119,先离开危险区域,不要乘坐电梯!",
    "gas": "请不要开关电器、不要点火,打开门窗,离开屋子后拨打119或燃气抢修电话!",
    "police": "请先确保自身安全,立即拨打110报警!",
    "suicide": "请立即拨打110或120。您并不孤单,我们马上联系您。心理援助热线:12356。",
    "missing": "请立即拨打110报警,说清楚老人的衣着和最后出现的地点。",
    "trapped": "请不要强行扒门,按电梯里的警铃,或拨打119求救!",
    "electric": "请先拉下电闸、切断电源,不要用手直接拉触电的人,然后立即拨打120!",
    "drowning": "请立即拨打110和120,不会游泳不要下水,找长杆、绳子或救生圈递过去!",
    "collapse": "请马上离开危险区域,不要靠近,立即拨打119!",
}
DEFAULT_ADVICE = "如有生命危险,请立即拨打120(急救)、119(火警)或110(报警)!"


def advice_for(kind: str | None) -> str:
    """What to do right now for this kind of emergency: the number to call first."""
    return ADVICE.get(kind or "", DEFAULT_ADVICE)


def handle_emergency(
    services: Services,
    resident: Resident,
    summary: str,
    *,
    kind: str | None,
    message_id: int | None,
    page_again: bool = True,
) -> Reply:
    """Open an urgent ticket (or re-page the open one); the reply leads with the number to call.

    page_again=False (a flooding sender) files a further cry under the open emergency without paging
    everyone once more for each message.
    """
    ticket = same_open_ticket(services, resident, "emergency", None)
    if ticket is None:
        ticket = open_ticket(services, resident, "emergency", summary, kind=kind, message_id=message_id)
    elif page_again:
        _page_again(services, ticket, summary, message_id)
    else:
        link_message(services, ticket, message_id, f"再次求助(消息过多,未重复呼叫):{summary}")
    return Reply(_reply_text(services, ticket, kind), ticket.id)


def _page_again(services: Services, ticket: Ticket, text: str, message_id: int | None) -> None:
    """A second call for help while one is open re-pages whoever holds it and the grid leader."""
    link_message(services, ticket, message_id, f"再次求助:{text}")
    push = (
        f"【紧急·再次求助】 #{ticket.id}\n居民又发来:{text}\n地址:{ticket.resident.address or '未登记住址'}"
    )
    leader = ticket.grid.leader if ticket.grid else None
    for worker in {w.id: w for w in (ticket.assignee, leader) if w is not None}.values():
        queue_push(
            services.session,
            services.now,
            worker=worker,
            kind="emergency",
            text=push,
            ticket=ticket,
            message_id=message_id,
        )


def _reply_text(services: Services, ticket: Ticket, kind: str | None) -> str:
    helpers = [assignee_phrase(ticket, with_phone=True)] if ticket.assignee else []
    leader = ticket.grid.leader if ticket.grid else None
    if leader is not None and leader is not ticket.assignee:
        helpers.append(worker_title(leader))
    notified = "和".join(helpers) or "社区值班人员"
    lines = [
        advice_for(kind),
        f"我们已通知{notified},马上联系您。工单号 #{ticket.id}。",
        f"社区值班电话:{services.settings.duty_phone}",
    ]
    if ticket.resident.building is None:
        lines.append("请告诉我们您的详细地址(几号楼几单元几室),方便我们赶到。")
    return "\n".join(lines)
