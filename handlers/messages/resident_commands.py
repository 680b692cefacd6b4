"""What residents say about tickets they already have: rate the service, or cancel."""

from __future__ import annotations

import re
from datetime import timedelta

from handlers.context import Reply, Services
from handlers.tickets.core import deadline_key, hand_to, open_tickets
from handlers.tickets.lifecycle import TransitionError, apply, tell_worker
from storage.models import Resident, Ticket
from storage.repositories.tickets import unrated_of

CANCEL = re.compile(r"^(?:取消|撤销|撤回)(?:工单)?(\d+)?$")
# Longest first: 不满意 and 基本满意 both contain 满意.
RATING_WORDS = (("不满意", 3), ("基本满意", 2), ("非常满意", 1), ("满意", 1))
RATING_LABELS = {1: "满意", 2: "基本满意", 3: "不满意"}


def rating_in(normalized: str) -> int | None:
    """1, 2 or 3 from '1', '满意', '不满意,还是漏' ...; None when the text is not a rating."""
    if normalized in ("1", "2", "3"):
        return int(normalized)
    return next((score for word, score in RATING_WORDS if normalized.startswith(word)), None)


def awaiting_rating(services: Services, resident: Resident) -> Ticket | None:
    """The resident's most recently resolved ticket that has not been rated yet."""
    with services.session.no_autoflush:  # as open_tickets: nothing pending changes the answer
        return unrated_of(services.session, resident.id)


def handle_rating(services: Services, ticket: Ticket, score: int) -> Reply:
    """Satisfied closes the ticket; unsatisfied reopens it to the same worker and tells the leader."""
    label = RATING_LABELS[score]
    if score == 3:
        return _reopen(services, ticket)
    ticket.rating = score
    apply(services, ticket, "close", "居民", f"居民评价:{label}")
    tell_worker(
        services, ticket.assignee, ticket, f"居民对工单 #{ticket.id} 的评价:{label}。辛苦了!", "rating"
    )
    return Reply(f"感谢您的评价!工单 #{ticket.id} 已完成。有需要随时找我们。", ticket.id)


def _reopen(services: Services, ticket: Ticket) -> Reply:
    apply(services, ticket, "reopen", "居民", "居民评价:不满意")
    worker = ticket.assignee
    hand_to(services, ticket, worker, ticket.escalation_level)
    window = services.settings.deadline(deadline_key(ticket.category, ticket.kind)).resolve_hours
    ticket.resolve_due_at = services.now + timedelta(hours=window)
    ticket.resolve_warned_at = ticket.overdue_paged_at = None
    text = (
        f"【重新办理】居民对工单 #{ticket.id} 不满意,请尽快再联系居民,并回复“签收 {ticket.id}”。\n"
        f"内容:{ticket.summary}"
    )
    tell_worker(services, worker, ticket, text, "reopened")
    leader = ticket.grid.leader if ticket.grid else None
    if leader is not None and leader is not worker:
        who = worker.name if worker else "工作人员"
        tell_worker(
            services, leader, ticket, f"居民对{who}办结的工单 #{ticket.id} 不满意,已重新交办。", "reopened"
        )
    name = worker.name if worker else "工作人员"
    return Reply(f"很抱歉没让您满意。工单 #{ticket.id} 已重新交给{name}处理,网格长也已知悉。", ticket.id)


def cancel_number(normalized: str) -> tuple[bool, int | None]:
    """(is it a cancel request, the ticket number if one was given)."""
    match = CANCEL.match(normalized)
    if match is None:
        return False, None
    return True, int(match.group(1)) if match.group(1) else None


def handle_cancel(services: Services, resident: Resident, number: int | None) -> Reply:
    """Cancel one of the resident's own tickets while it is not yet resolved."""
    if number is None:
        mine = open_tickets(services, resident)
        if len(mine) != 1:
            listed = "、".join(f"#{t.id}" for t in mine) or "无"
            return Reply(
                f"请告诉我们要取消哪个工单,例如“取消 {mine[0].id if mine else 12}”。您正在办理的工单:{listed}"
            )
        number = mine[0].id
    ticket = services.session.get(Ticket, number)
    if ticket is None or ticket.resident_id != resident.id:
        return Reply(f"没有找到您的工单 #{number},请核对编号。回复“我的工单”可以查看。")
    try:
        apply(services, ticket, "cancel", "居民")
    except TransitionError as refusal:
        return Reply(str(refusal))
    tell_worker(
        services, ticket.assignee, ticket, f"居民已取消工单 #{ticket.id}:{ticket.summary}", "cancelled"
    )
    return Reply(f"工单 #{ticket.id} 已取消。有需要随时再找我们。", ticket.id)
