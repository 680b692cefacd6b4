"""Bulk 签收 and 转派 from the board's table (leaders and offices): each ticket goes through the same
operation as its own page's button, in its own transaction, and the board lists what came of each."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl

from flask import Blueprint, flash, redirect, request, url_for
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from bot.console.pages import Staff, console, staff
from bot.console.views.actions import describe
from bot.console.views.board import PAGE_SIZE
from handlers.context import Services
from handlers.language.privacy import mask_name
from handlers.people.invites import find_worker
from handlers.tickets.actions import acknowledge, reassign
from handlers.tickets.core import worker_title
from handlers.tickets.outcome import Outcome
from storage.db import transaction
from storage.models import Ticket, Worker

log = logging.getLogger(__name__)

BULK_ACTIONS = {"acknowledge": "签收", "reassign": "转派"}
# The board's query string keys a bulk form may carry back (anything else is dropped: no open redirect).
BOARD_KEYS = ("grid", "status", "category", "overdue", "q", "page", "sort", "live")
# More digits than a ticket number can have (a 64-bit id) is no ticket.
TICKET_DIGITS = 18


def register(blueprint: Blueprint) -> None:
    """Add the bulk action route."""
    blueprint.add_url_rule("/tickets/bulk", "bulk", bulk, methods=["POST"])


@dataclass(frozen=True)
class Result:
    """What happened to one ticket of a bulk action, as plain values."""

    number: int
    accepted: bool
    # The ticket page's notice for this ticket: what changed, or why nothing did.
    said: str
    told: tuple[str, ...] = ()
    # Who holds the ticket now that it was reassigned ('网格员王芳').
    holder: str = ""


def bulk() -> Response:
    """Sign for or reassign the ticked tickets one by one; the board lists what was done and what not."""
    me = staff()
    back = redirect(url_for("console.board", **board_args(request.form.get("back", ""))))
    action = request.form.get("action", "")
    numbers = ticket_numbers(request.form.getlist("ticket"))
    name = request.form.get("name", "").strip()
    problem = _form_problem(me, action, numbers, name)
    if problem:
        flash(problem, "refused")
        return back
    results = [_run_one(me, action, number, name) for number in numbers]
    for kind, text in summary(action, results):
        flash(text, kind)
    return back


def board_args(back: str) -> dict[str, str]:
    """The board's filters from the form's `back` field, known keys only."""
    return {key: value for key, value in parse_qsl(back) if key in BOARD_KEYS}


def ticket_numbers(given: list[str]) -> list[int]:
    """The ticked ticket numbers, in order, once each; anything that is no ticket number is left out."""
    numbers = [int(text) for text in given if text.isdecimal() and len(text) <= TICKET_DIGITS]
    return list(dict.fromkeys(number for number in numbers if number > 0))


def _form_problem(me: Staff, action: str, numbers: list[int], name: str) -> str:
    """Why the form as a whole cannot run (nothing is done then); empty when it can."""
    if not me.may_reassign:
        return "只有网格长和社区、街道工作人员可以批量签收或转派工单。"
    if action not in BULK_ACTIONS:
        return "请选择要做的操作:签收或转派。"
    if not numbers:
        return "请先勾选要处理的工单。"
    if len(numbers) > PAGE_SIZE:
        return f"一次最多处理 {PAGE_SIZE} 张工单,请分批操作。"
    if action == "reassign" and not name:
        return "请选择转派给谁。"
    if action == "reassign":
        with transaction(console().factory) as session:
            if find_worker(session, name) is None:
                return "没有找到这位在职的工作人员,请从名单中选择。"
    return ""


def _run_one(me: Staff, action: str, number: int, name: str) -> Result:
    """One ticket through the single-ticket operation, in its own transaction."""
    app = console()
    try:
        with transaction(app.factory) as session:
            ticket = session.get(Ticket, number)
            worker = session.get(Worker, me.worker_id)
            if ticket is None or worker is None or not me.scope.sees_ticket(ticket):
                # The same answer for a ticket outside the person's grids as for none at all.
                return Result(number, False, f"没有找到工单 #{number}。")
            services = app.services(session)
            outcome = _operate(services, worker, action, number, name)
            holder = worker_title(outcome.assignee) if outcome.assignee is not None else ""
            result = Result(number, outcome.accepted, describe(services, outcome), _told(outcome), holder)
    except StaleDataError:
        return Result(number, False, f"工单 #{number} 刚刚被别人更新了,没有处理,请看一下最新情况。")
    if result.accepted:
        log.info("console: %s bulk %s ticket %s", mask_name(me.name), action, number)
    return result


def _operate(services: Services, worker: Worker, action: str, number: int, name: str) -> Outcome:
    """The typed domain operation the ticket page's button calls."""
    if action == "acknowledge":
        return acknowledge(services, worker, number)
    return reassign(services, worker, number, find_worker(services.session, name))


def _told(outcome: Outcome) -> tuple[str, ...]:
    """Who the operation told: '居民' or a colleague's title."""
    return tuple("居民" if push.worker is None else worker_title(push.worker) for push in outcome.told)


def summary(action: str, results: list[Result]) -> list[tuple[str, str]]:
    """The board's notices: one line for what was done, and one line per ticket that was not."""
    done = [result for result in results if result.accepted]
    left = [result for result in results if not result.accepted]
    notes: list[tuple[str, str]] = []
    if done:
        numbers = "、".join(f"#{result.number}" for result in done)
        told = list(dict.fromkeys(name for result in done for name in result.told))
        told_line = f"已通知:{'、'.join(told)}。" if told else ""
        count = f"{len(done)} 张工单"
        verb = f"把 {count}转派给{done[0].holder}" if action == "reassign" else f"签收 {count}"
        notes.append(("done", f"已{verb}:{numbers}。{told_line}"))
    if left:
        lines = "\n".join(f"· {result.said}" for result in left)
        notes.append(("refused", f"{len(left)} 张没有{BULK_ACTIONS[action]}:\n{lines}"))
    return notes
