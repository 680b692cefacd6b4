"""Acting on a ticket from its page: the form's fields go straight to the ticket operations, whose
outcome the page reports in its own words."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, request, url_for
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from bot.console.pages import console, staff
from bot.console.views.tickets import ACTIONS, visible_ticket
from handlers.context import Services
from handlers.language.privacy import mask_name
from handlers.people.invites import find_worker
from handlers.texts import CATEGORY_LABELS, local_time
from handlers.tickets.actions import (
    acknowledge,
    extend,
    hours_from,
    merge_duplicate,
    progress,
    reassign,
    resolve,
    send_back,
)
from handlers.tickets.core import worker_title
from handlers.tickets.lifecycle import refusal
from handlers.tickets.outcome import Outcome, Refusal
from handlers.tickets.recategorise import RECATEGORISE, category_choices, category_of, recategorise
from storage.db import transaction
from storage.models import Ticket, Worker

log = logging.getLogger(__name__)

# More digits than a ticket number can have (a 64-bit id) is no ticket.
TICKET_DIGITS = 18
# A name longer than this came from no form of ours; it is not repeated back in full.
NAME_SHOWN = 20
# What to fill in when an action's text field came empty.
MISSING_WORDS = {
    "progress": "请写上进展,居民会收到。",
    "send_back": "请写上退单原因。",
    "extend": "请写上延期原因。",
}


def register(blueprint: Blueprint) -> None:
    """Add the action route."""
    blueprint.add_url_rule("/tickets/<int:ticket_id>/<action>", "act", act, methods=["POST"])


def act(ticket_id: int, action: str) -> Response:
    """Run one action from the ticket page and show what came of it."""
    me, app = staff(), console()
    if action not in ACTIONS:
        abort(404)
    try:
        with transaction(app.factory) as session:
            visible_ticket(session, me, ticket_id)
            worker = session.get(Worker, me.worker_id)
            if worker is None:
                abort(404)
            services = app.services(session)
            outcome = RUN[action](services, worker, ticket_id)
            said = describe(services, outcome)
    except StaleDataError:
        flash("工单刚刚被别人更新了,请看一下最新情况再操作。", "refused")
        return redirect(url_for("console.ticket", ticket_id=ticket_id))
    if outcome.accepted:
        log.info("console: %s %s ticket %s", mask_name(me.name), action, ticket_id)
    flash(said, "done" if outcome.accepted else "refused")
    return redirect(url_for("console.ticket", ticket_id=ticket_id))


def _text() -> str:
    """The form's text field (a progress note, a resolution, a reason), whitespace squeezed."""
    return " ".join(request.form.get("text", "").split())


def _reassign(services: Services, worker: Worker, number: int) -> Outcome:
    name = request.form.get("name", "").strip()
    return reassign(services, worker, number, find_worker(services.session, name) if name else None)


def _extend(services: Services, worker: Worker, number: int) -> Outcome:
    return extend(services, worker, number, hours_from(request.form.get("hours", "")), _text())


def _recategorise(services: Services, worker: Worker, number: int) -> Outcome:
    return recategorise(services, worker, number, category_of(request.form.get("category", "")))


def _duplicate(services: Services, worker: Worker, number: int) -> Outcome:
    given = request.form.get("original", "").strip().lstrip("#")
    original = int(given) if given.isdecimal() and len(given) <= TICKET_DIGITS else None
    return merge_duplicate(services, worker, number, original)


RUN: dict[str, Callable[[Services, Worker, int], Outcome]] = {
    "acknowledge": acknowledge,
    "progress": lambda services, worker, number: progress(services, worker, number, _text()),
    "resolve": lambda services, worker, number: resolve(services, worker, number, _text()),
    "send_back": lambda services, worker, number: send_back(services, worker, number, _text()),
    "reassign": _reassign,
    "extend": _extend,
    RECATEGORISE: _recategorise,
    "duplicate": _duplicate,
}


# What the page says


def describe(services: Services, outcome: Outcome) -> str:
    """The notice after an action: what changed and who was told, or why nothing changed."""
    ticket = outcome.ticket
    if ticket is None:
        return f"没有找到工单 #{outcome.number}。"
    if outcome.refusal is not None:
        return _refused(services, outcome, ticket)
    return f"{_done(services, outcome, ticket)}{_told(outcome)}"


def _done(services: Services, outcome: Outcome, ticket: Ticket) -> str:
    """What changed, in a sentence."""
    number, action = ticket.id, outcome.action
    holder = worker_title(outcome.assignee) if outcome.assignee is not None else ""
    if action == "acknowledge":
        return f"已签收工单 #{number},请在{_due(services, ticket)}前办结。"
    if action == "progress":
        return f"已记录工单 #{number} 的进展。"
    if action == "resolve" and ticket.category == "knock":
        return f"敲门探访 #{number} 已办结。"
    if action == "resolve":
        return f"工单 #{number} 已办结,已请居民评价。"
    if action == "send_back":
        return f"已退回工单 #{number},由{holder}重新安排。"
    if action == "reassign":
        return f"已把工单 #{number} 转派给{holder}。"
    if action == "extend":
        return f"工单 #{number} 已延期到{_due(services, ticket)}。"
    if action == "duplicate" and outcome.original is not None:
        return f"已把工单 #{number} 合并到工单 #{outcome.original.id},由那张工单继续办理。"
    if ticket.category == "emergency":
        return f"已把工单 #{number} 改为紧急求助,已按紧急情况通知相关人员。"
    before = CATEGORY_LABELS[outcome.category_before or ticket.category]
    return f"已把工单 #{number} 从“{before}”改为“{CATEGORY_LABELS[ticket.category]}”。"


def _due(services: Services, ticket: Ticket) -> str:
    return local_time(ticket.resolve_due_at, services.settings.timezone)


def _told(outcome: Outcome) -> str:
    """'已通知:居民、网格长赵建国。', each person once; nothing when nobody was told."""
    names = ["居民" if push.worker is None else worker_title(push.worker) for push in outcome.told]
    unique = list(dict.fromkeys(names))
    return f"已通知:{'、'.join(unique)}。" if unique else ""


def _refused(services: Services, outcome: Outcome, ticket: Ticket) -> str:
    """Why nothing changed, and what to fill in when the form was the trouble."""
    number, action, why = ticket.id, outcome.action, outcome.refusal
    limit = services.settings.escalation.max_extension_hours
    if why is Refusal.NOT_YOURS:
        return f"工单 #{number} 不属于您负责的网格,无法操作。"
    if why is Refusal.NOT_NOW and action == RECATEGORISE:
        return f"工单 #{number} 已经办结或关闭,不能再改类。"
    if why is Refusal.NOT_NOW:
        return refusal(ticket, action)
    if why is Refusal.NOTE_MISSING:
        return MISSING_WORDS.get(action, "请写上延期原因。")
    if why is Refusal.BAD_HOURS:
        return f"请写上延期小时数(1到{limit})和原因。小时数须是1到{limit}之间的整数。"
    if why is Refusal.PAST_DUE:
        return f"工单 #{number} 已超过办结期限,不能再延期,请联系网格长。"
    if why is Refusal.NOBODY_TO_TAKE_IT:
        return "没有可以重新派单的网格长或社区值班人员,请直接电话联系社区。"
    if why is Refusal.NOT_PERMITTED and action == RECATEGORISE:
        return "只有网格长和社区、街道工作人员可以改类。"
    if why is Refusal.NOT_PERMITTED and action == "duplicate":
        return "只有网格长和社区、街道工作人员可以合并重复工单。"
    if why is Refusal.UNKNOWN_ORIGINAL:
        return f"请填写要并入的另一张未办结工单的编号(不能是 #{number} 自己)。"
    if why is Refusal.NOT_PERMITTED:
        return "只有网格长和社区、街道工作人员可以转派工单。需要别人处理请退单。"
    return _refused_choice(outcome, ticket)


def _refused_choice(outcome: Outcome, ticket: Ticket) -> str:
    """Refusals of a person or a category chosen in the form."""
    number, why = ticket.id, outcome.refusal
    if why is Refusal.UNKNOWN_ASSIGNEE:
        name = request.form.get("name", "").strip()[:NAME_SHOWN]
        return f"没有找到在职的工作人员“{name}”,请从名单中选择。" if name else "请选择转派给谁。"
    if why is Refusal.UNKNOWN_CATEGORY:
        choices = category_choices()
        return f"请从列表中选择新的类别:{choices}。"
    if outcome.action == RECATEGORISE:
        return f"工单 #{number} 已经是“{CATEGORY_LABELS[ticket.category]}”。"
    holder = outcome.assignee.name if outcome.assignee is not None else ""
    return f"工单#{number}已由{holder}负责,无需转派。"
