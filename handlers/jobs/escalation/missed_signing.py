"""A missed sign-for deadline: one rung up the escalation ladder, re-pages at the top, then giving up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, exists

from handlers.context import Services
from handlers.domain_settings import DomainSettings
from handlers.jobs.escalation.pages import SYSTEM, names_of, page, span, ticket_history, ticket_lines, touch
from handlers.texts import CATEGORY_LABELS, local_time
from handlers.tickets import lifecycle
from handlers.tickets.core import UNSIGNED, hand_to, record_event, worker_title
from handlers.tickets.ladder import Rung, ladder, next_rung
from storage.models import Ticket, TicketEvent

EXHAUSTED = "escalation_exhausted"


def escalation_due(settings: DomainSettings, now: datetime) -> list[ColumnElement[bool]]:
    """Unsigned, non-emergency, past the sign-for deadline, and paging has not given up on it."""
    return [
        Ticket.status.in_(UNSIGNED),
        Ticket.category != "emergency",
        Ticket.ack_due_at <= now,
        ~_exhausted_at_this_deadline(),
    ]


def _exhausted_at_this_deadline() -> ColumnElement[bool]:
    """Paging already gave up on the current deadline; a fresh hand-over (new deadline) starts over."""
    return exists().where(
        TicketEvent.ticket_id == Ticket.id,
        TicketEvent.kind == EXHAUSTED,
        TicketEvent.created_at >= Ticket.ack_due_at,
    )


def escalate(services: Services, ticket: Ticket) -> str:
    """Page the next staffed rung; at the top re-page it a bounded number of times, then stop."""
    rungs = ladder(services.session, ticket)
    rung = next_rung(rungs, ticket.escalation_level)
    if rung is not None:
        _climb(services, ticket, rung)
        return "escalated"
    top = rungs[-1] if rungs else None
    if top is None or ticket.repeat_pages >= services.settings.escalation.top_repeats:
        _give_up(services, ticket, top)
        return "exhausted"
    _repage_top(services, ticket, top)
    return "escalated"


def _climb(services: Services, ticket: Ticket, rung: Rung) -> None:
    """Hand the ticket to the first person on the next rung and page everyone standing on it."""
    missed, history = _missed(services, ticket), ticket_history(services, ticket)
    lifecycle.apply(
        services, ticket, "escalate", SYSTEM, f"{missed},升级到{rung.name}({names_of(rung.workers)})"
    )
    _hand_over(services, ticket, rung, repeats=0)
    title = f"【升级督办 · {CATEGORY_LABELS[ticket.category]}】 #{ticket.id}"
    lead = f"{missed},现升级由您({rung.name})处理。"
    text = _escalation_text(services, ticket, title, lead, history)
    page(services, ticket, rung.workers, text, "escalation")


def _repage_top(services: Services, ticket: Ticket, rung: Rung) -> None:
    """Page the top of the ladder again, with a fresh deadline to sign."""
    count = ticket.repeat_pages + 1
    missed, history = _missed(services, ticket), ticket_history(services, ticket)
    note = f"{missed},第{count}次催办{rung.name}({names_of(rung.workers)})"
    record_event(services, ticket, "repaged", SYSTEM, note)
    _hand_over(services, ticket, rung, repeats=count)
    title = f"【再次催办 · 第{count}次】 #{ticket.id}"
    lead = f"本工单已升级到{rung.name},{missed},请立即处理。"
    text = _escalation_text(services, ticket, title, lead, history)
    page(services, ticket, rung.workers, text, "escalation")


def _give_up(services: Services, ticket: Ticket, top: Rung | None) -> None:
    """Stop paging: the audit trail says so once, and people take it from the overdue lists."""
    where = top.name if top else "最高一级"
    note = f"已催办到{where}{ticket.repeat_pages}次仍无人签收,停止自动催办,请人工跟进。"
    record_event(services, ticket, EXHAUSTED, SYSTEM, note)
    touch(services, ticket)


def _hand_over(services: Services, ticket: Ticket, rung: Rung, *, repeats: int) -> None:
    """The rung's first person holds the ticket, with a fresh deadline to sign for it."""
    if ticket.status == "new":
        ticket.status = "assigned"
    hand_to(services, ticket, rung.workers[0], rung.level)
    ticket.repeat_pages = repeats
    touch(services, ticket)


def _missed(services: Services, ticket: Ticket) -> str:
    """'网格员王芳自11月23日 10:00起未签收': who was paged last, and since when."""
    who = worker_title(ticket.assignee) if ticket.assignee else "值班人员"
    since = local_time(ticket.last_paged_at or ticket.created_at, services.settings.timezone)
    return f"{who}自{since}起未签收"


def _escalation_text(services: Services, ticket: Ticket, title: str, lead: str, history: list[str]) -> str:
    """The push for a rung: why it is theirs, the resident, what happened so far, and by when."""
    left = span(ticket.ack_due_at - services.now)
    resolve_by = local_time(ticket.resolve_due_at, services.settings.timezone)
    ask = f"请在{left}内签收(回复“签收 {ticket.id}”),{resolve_by}前办结。"
    return "\n".join([title, lead, *ticket_lines(ticket), "经过:", *history, ask])
