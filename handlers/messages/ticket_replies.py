"""The WeChat words for a ticket operation's outcome: what the worker reads after 签收, 办结, 转派 ..."""

from __future__ import annotations

from collections.abc import Callable

from handlers.context import Reply, Services
from handlers.texts import CATEGORY_LABELS, local_time
from handlers.tickets.core import worker_title
from handlers.tickets.lifecycle import refusal
from handlers.tickets.outcome import Outcome, Refusal
from handlers.tickets.recategorise import RECATEGORISE, category_choices
from storage.models import Ticket


def wechat_reply(services: Services, outcome: Outcome, rest: str) -> Reply:
    """The reply to a ticket command; rest is what the worker wrote after the number."""
    if outcome.refusal is None and outcome.ticket is not None:
        return Reply(ACCEPTED[outcome.action](services, outcome, outcome.ticket))
    return Reply(_refused(services, outcome, rest))


def _refused(services: Services, outcome: Outcome, rest: str) -> str:
    """Why nothing changed, with an example of the command written right."""
    number, action, why = outcome.number, outcome.action, outcome.refusal
    if why is Refusal.NOT_FOUND or outcome.ticket is None:
        return f"没有找到工单 #{number},请核对编号。"
    if why is Refusal.NOT_YOURS:
        return f"工单 #{number} 不属于您负责的网格,无法操作。"
    if why is Refusal.NOT_NOW:
        if action == RECATEGORISE:
            return f"工单 #{number} 已经办结或关闭,不能再改类。"
        return refusal(outcome.ticket, action)
    if why is Refusal.NOTE_MISSING and action == "progress":
        return f"请写上进展,例如“进度 {number} 已联系物业,明天上午来修”。"
    if why is Refusal.NOTE_MISSING and action == "send_back":
        return f"请写上退单原因,例如“退单 {number} 不属于本网格”。"
    if why in (Refusal.NOTE_MISSING, Refusal.BAD_HOURS):
        limit = services.settings.escalation.max_extension_hours
        return f"请写上延期小时数(1到{limit})和原因,例如“延期 {number} 24 等配件”。"
    return _refused_by_rule(outcome, outcome.ticket, rest)


def _refused_by_rule(outcome: Outcome, ticket: Ticket, rest: str) -> str:
    """Refusals of a rule of the action itself: deadlines, roles, names, categories."""
    number, why = outcome.number, outcome.refusal
    if why is Refusal.PAST_DUE:
        return f"工单 #{number} 已超过办结期限,不能再延期,请联系网格长。"
    if why is Refusal.NOBODY_TO_TAKE_IT:
        return "没有可以重新派单的网格长或社区值班人员,请直接电话联系社区。"
    if why is Refusal.NOT_PERMITTED and outcome.action == RECATEGORISE:
        return "只有网格长和社区、街道工作人员可以改类。分类不对请联系网格长。"
    if why is Refusal.NOT_PERMITTED:
        return "只有网格长和社区、街道工作人员可以转派工单。需要别人处理请用“退单”。"
    if why is Refusal.UNKNOWN_ASSIGNEE:
        return f"没有找到名为“{rest}”的工作人员,请核对姓名,例如“转派 {number} 李骁”。"
    if why is Refusal.UNKNOWN_CATEGORY:
        choices = category_choices()
        return f"请写上新的类别,例如“改类 {number} 紧急求助”。可选:{choices}。"
    if outcome.action == RECATEGORISE:
        return f"工单 #{number} 已经是“{CATEGORY_LABELS[ticket.category]}”。"
    holder = outcome.assignee.name if outcome.assignee is not None else ""
    return f"工单#{number}已由{holder}负责,无需转派。"


def _acknowledged(services: Services, _: Outcome, ticket: Ticket) -> str:
    resident = ticket.resident
    return (
        f"已签收工单 #{ticket.id}。\n居民:{resident.name or '未登记姓名'} {resident.phone or ''}\n"
        f"地址:{resident.address or '未登记住址'}\n内容:{ticket.summary}\n"
        f"请在{local_time(ticket.resolve_due_at, services.settings.timezone)}前办结,"
        f"办好后回复“办结 {ticket.id} 处理说明”。"
    )


def _progressed(_: Services, __: Outcome, ticket: Ticket) -> str:
    return f"已记录工单 #{ticket.id} 的进展,居民会收到通知。"


def _resolved(_: Services, __: Outcome, ticket: Ticket) -> str:
    if ticket.category == "knock":
        return f"敲门探访 #{ticket.id} 已办结,家属会收到您的说明。辛苦了!"
    return f"工单 #{ticket.id} 已办结,已请居民评价。辛苦了!"


def _sent_back(_: Services, outcome: Outcome, ticket: Ticket) -> str:
    target = worker_title(outcome.assignee) if outcome.assignee is not None else "网格长"
    return f"已退回工单 #{ticket.id},{target}会重新安排。"


def _reassigned(_: Services, outcome: Outcome, ticket: Ticket) -> str:
    target = worker_title(outcome.assignee) if outcome.assignee is not None else ""
    return f"已把工单 #{ticket.id} 转派给{target}。"


def _extended(services: Services, _: Outcome, ticket: Ticket) -> str:
    return f"工单 #{ticket.id} 已延期到{local_time(ticket.resolve_due_at, services.settings.timezone)}。"


def _recategorised(_: Services, outcome: Outcome, ticket: Ticket) -> str:
    if ticket.category == "emergency":
        return f"已把工单 #{ticket.id} 改为紧急求助,已按紧急情况通知相关人员。"
    before = CATEGORY_LABELS[outcome.category_before or ticket.category]
    return f"已把工单 #{ticket.id} 从“{before}”改为“{CATEGORY_LABELS[ticket.category]}”。"


ACCEPTED: dict[str, Callable[[Services, Outcome, Ticket], str]] = {
    "acknowledge": _acknowledged,
    "progress": _progressed,
    "resolve": _resolved,
    "send_back": _sent_back,
    "reassign": _reassigned,
    "extend": _extended,
    RECATEGORISE: _recategorised,
}
