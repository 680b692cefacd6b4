"""The deadline sweep: warnings, the escalation ladder, emergency re-paging, overdue pages, auto-close.

Each rule selects due tickets with one query on status and a due timestamp, then settles every ticket
in its own transaction after re-reading it, so a sweep that runs twice, or two sweeps at once, act once.
Warnings fire when less than (1 - warn_at_fraction) of the category's configured window is left before
the current deadline: the window ends at the deadline and is as long as the category's setting, so it
starts at the last page or hand-over for the acknowledgement, and at opening (moved by any extension)
for the resolution.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from config.settings import Deadline, Settings
from handlers import lifecycle
from handlers.context import Services
from handlers.ladder import COMMUNITY, STREET, Rung, holder_and_above, ladder, next_rung, rungs_up_to
from handlers.language.intents import IntentClassifier
from handlers.lifecycle import ACTION_LABELS, tell_resident, tell_worker
from handlers.tally import Tally
from handlers.texts import CATEGORY_LABELS, local_time
from handlers.tickets import (
    SIGNED,
    UNSIGNED,
    community_desk,
    deadline_key,
    hand_to,
    record_event,
    worker_title,
)
from storage.db import transaction
from storage.models import Ticket, TicketEvent, Worker

log = logging.getLogger(__name__)

SYSTEM = "系统"
EXHAUSTED = "escalation_exhausted"
HISTORY_LENGTH = 6
EVENT_LABELS = ACTION_LABELS | {"follow_up": "补充信息"}


@dataclass
class SweepResult(Tally):
    """How many tickets each rule acted on in one sweep."""

    warned: int = 0
    escalated: int = 0
    exhausted: int = 0
    emergency_pages: int = 0
    overdue_pages: int = 0
    closed_unrated: int = 0
    failed: int = 0


Conditions = Callable[[Settings, datetime], list[ColumnElement[bool]]]
# An action returns the SweepResult field to count, or None when the re-read ticket needs nothing yet.
Action = Callable[[Services, Ticket], str | None]


@dataclass(frozen=True)
class Rule:
    """Which tickets are due (a query, re-run on the re-read row) and what to do with one of them."""

    name: str
    due: Conditions
    act: Action


def sweep(
    factory: sessionmaker[Session], settings: Settings, classifier: IntentClassifier, now: datetime
) -> SweepResult:
    """Act on every ticket whose deadline has come, each in its own transaction."""
    result = SweepResult()
    for rule in RULES:
        for ticket_id in _due_ids(factory, rule.due(settings, now)):
            counted = _settle(factory, settings, classifier, now, rule, ticket_id)
            if counted is not None:
                setattr(result, counted, getattr(result, counted) + 1)
    return result


def _due_ids(factory: sessionmaker[Session], conditions: list[ColumnElement[bool]]) -> list[int]:
    """Ids of the tickets a rule's query finds due, in a short read of its own."""
    with transaction(factory) as session:
        return list(session.scalars(select(Ticket.id).where(*conditions).order_by(Ticket.id)))


def _settle(
    factory: sessionmaker[Session],
    settings: Settings,
    classifier: IntentClassifier,
    now: datetime,
    rule: Rule,
    ticket_id: int,
) -> str | None:
    """Re-read one ticket in its own transaction and act only if it is still due."""
    try:
        with transaction(factory) as session:
            query = select(Ticket).where(Ticket.id == ticket_id, *rule.due(settings, now))
            ticket = session.scalars(query).one_or_none()
            if ticket is None:
                return None
            return rule.act(Services(session, settings, classifier, now), ticket)
    except StaleDataError:
        log.info("ticket %s changed under the sweep (%s); the other writer wins", ticket_id, rule.name)
        return None
    except Exception:
        # One broken ticket must not hold up every other deadline, emergencies included.
        log.exception("deadline sweep (%s) failed on ticket %s", rule.name, ticket_id)
        return "failed"


# Warnings before a deadline


def _ack_warning_due(settings: Settings, now: datetime) -> list[ColumnElement[bool]]:
    """Unsigned, non-emergency, not yet warned, the sign-for deadline near (refined by _lead)."""
    return [
        Ticket.status.in_(UNSIGNED),
        Ticket.category != "emergency",
        Ticket.ack_warned_at.is_(None),
        Ticket.ack_due_at > now,
        Ticket.ack_due_at <= now + _longest_lead(settings, resolve=False),
    ]


def _resolve_warning_due(settings: Settings, now: datetime) -> list[ColumnElement[bool]]:
    """Signed for, not yet warned, the resolve deadline near (refined by _lead)."""
    return [
        Ticket.status.in_(SIGNED),
        Ticket.resolve_warned_at.is_(None),
        Ticket.resolve_due_at > now,
        Ticket.resolve_due_at <= now + _longest_lead(settings, resolve=True),
    ]


def _warn_unsigned(services: Services, ticket: Ticket) -> str | None:
    """Remind the holder that the time to sign for the ticket is nearly up."""
    return _warn(services, ticket, resolve=False)


def _warn_unresolved(services: Services, ticket: Ticket) -> str | None:
    """Remind the holder that the time to resolve the ticket is nearly up."""
    return _warn(services, ticket, resolve=True)


def _warn(services: Services, ticket: Ticket, *, resolve: bool) -> str | None:
    due = ticket.resolve_due_at if resolve else ticket.ack_due_at
    if due - services.now > _lead(services.settings, ticket, resolve=resolve):
        return None
    left = _span(due - services.now)
    if resolve:
        ticket.resolve_warned_at = services.now
        ask = (
            f"还有{left}需办结,办好后请回复“办结 {ticket.id} 处理说明”;"
            f"需要延期请回复“延期 {ticket.id} 小时数 原因”。"
        )
    else:
        ticket.ack_warned_at = services.now
        ask = f"还有{left}需签收,请尽快回复“签收 {ticket.id}”。"
    holders = _holders(services, ticket)
    text = "\n".join([f"【即将超时】工单 #{ticket.id} {ask}", *_ticket_lines(ticket)])
    _page(services, ticket, holders, text, "deadline_warning")
    what = "办结" if resolve else "签收"
    kind = "resolve_warning" if resolve else "ack_warning"
    record_event(services, ticket, kind, SYSTEM, f"提醒{_names(holders)}:{what}期限还剩{left}")
    _touch(services, ticket)
    return "warned"


def _lead(settings: Settings, ticket: Ticket, *, resolve: bool) -> timedelta:
    """Warn once less than this is left: the unused share of the category's configured window."""
    deadline = settings.deadline(deadline_key(ticket.category, ticket.kind))
    return _window(deadline, resolve) * (1 - settings.escalation.warn_at_fraction)


def _longest_lead(settings: Settings, *, resolve: bool) -> timedelta:
    """The largest lead of any category: the query's bound, refined per ticket by _lead."""
    longest = max(_window(deadline, resolve) for deadline in settings.deadlines.values())
    return longest * (1 - settings.escalation.warn_at_fraction)


def _window(deadline: Deadline, resolve: bool) -> timedelta:
    """The configured time to resolve, or to sign for, one kind of ticket."""
    return timedelta(hours=deadline.resolve_hours) if resolve else timedelta(minutes=deadline.ack_minutes)


# Missed acknowledgement: one rung up the ladder


def _escalation_due(settings: Settings, now: datetime) -> list[ColumnElement[bool]]:
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


def _escalate(services: Services, ticket: Ticket) -> str:
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
    missed, history = _missed(services, ticket), _history(services, ticket)
    lifecycle.apply(
        services, ticket, "escalate", SYSTEM, f"{missed},升级到{rung.name}({_names(rung.workers)})"
    )
    _hand_over(services, ticket, rung, repeats=0)
    title = f"【升级督办 · {CATEGORY_LABELS[ticket.category]}】 #{ticket.id}"
    lead = f"{missed},现升级由您({rung.name})处理。"
    text = _escalation_text(services, ticket, title, lead, history)
    _page(services, ticket, rung.workers, text, "escalation")


def _repage_top(services: Services, ticket: Ticket, rung: Rung) -> None:
    """Page the top of the ladder again, with a fresh deadline to sign."""
    count = ticket.repeat_pages + 1
    missed, history = _missed(services, ticket), _history(services, ticket)
    note = f"{missed},第{count}次催办{rung.name}({_names(rung.workers)})"
    record_event(services, ticket, "repaged", SYSTEM, note)
    _hand_over(services, ticket, rung, repeats=count)
    title = f"【再次催办 · 第{count}次】 #{ticket.id}"
    lead = f"本工单已升级到{rung.name},{missed},请立即处理。"
    text = _escalation_text(services, ticket, title, lead, history)
    _page(services, ticket, rung.workers, text, "escalation")


def _give_up(services: Services, ticket: Ticket, top: Rung | None) -> None:
    """Stop paging: the audit trail says so once, and people take it from the overdue lists."""
    where = top.name if top else "最高一级"
    note = f"已催办到{where}{ticket.repeat_pages}次仍无人签收,停止自动催办,请人工跟进。"
    record_event(services, ticket, EXHAUSTED, SYSTEM, note)
    _touch(services, ticket)


def _hand_over(services: Services, ticket: Ticket, rung: Rung, *, repeats: int) -> None:
    """The rung's first person holds the ticket, with a fresh deadline to sign for it."""
    if ticket.status == "new":
        ticket.status = "assigned"
    hand_to(services, ticket, rung.workers[0], rung.level)
    ticket.repeat_pages = repeats
    _touch(services, ticket)


def _missed(services: Services, ticket: Ticket) -> str:
    """'网格员王芳自11月23日 10:00起未签收': who was paged last, and since when."""
    who = worker_title(ticket.assignee) if ticket.assignee else "值班人员"
    since = local_time(ticket.last_paged_at or ticket.created_at, services.settings.timezone)
    return f"{who}自{since}起未签收"


def _escalation_text(services: Services, ticket: Ticket, title: str, lead: str, history: list[str]) -> str:
    """The push for a rung: why it is theirs, the resident, what happened so far, and by when."""
    left = _span(ticket.ack_due_at - services.now)
    resolve_by = local_time(ticket.resolve_due_at, services.settings.timezone)
    ask = f"请在{left}内签收(回复“签收 {ticket.id}”),{resolve_by}前办结。"
    return "\n".join([title, lead, *_ticket_lines(ticket), "经过:", *history, ask])


# Emergencies: page every rung until someone signs


def _emergency_due(settings: Settings, now: datetime) -> list[ColumnElement[bool]]:
    """Unsigned emergencies last paged at least emergency_repage_minutes ago."""
    repage_before = now - timedelta(minutes=settings.escalation.emergency_repage_minutes)
    return [
        Ticket.status.in_(UNSIGNED),
        Ticket.category == "emergency",
        func.coalesce(Ticket.last_paged_at, Ticket.created_at) <= repage_before,
    ]


def _repage_emergency(services: Services, ticket: Ticket) -> str:
    """Page every staffed rung up to the community office, and the street office once it drags on."""
    count = ticket.repeat_pages + 1
    top = STREET if ticket.repeat_pages >= services.settings.escalation.top_repeats else COMMUNITY
    rungs = rungs_up_to(ladder(services.session, ticket), top)
    # The holder first, even one the grid's ladder no longer shows (the grid changed hands, a 转派 in).
    people = holder_and_above(rungs, ticket.assignee, top)
    history = _history(services, ticket)
    record_event(services, ticket, "emergency_repage", SYSTEM, f"第{count}次紧急呼叫:{_names(people)}")
    ticket.repeat_pages, ticket.last_paged_at = count, services.now
    if rungs:
        ticket.escalation_level = max(ticket.escalation_level, rungs[-1].level)
    _touch(services, ticket)
    waited = _span(services.now - ticket.created_at)
    lines = [
        f"【紧急求助 · 第{count}次呼叫】 #{ticket.id}",
        f"居民求助已过{waited},至今无人签收!",
        *_ticket_lines(ticket),
        "经过:",
        *history,
        f"请立即联系居民并赶往现场,同时回复“签收 {ticket.id}”让大家知道有人在处理。",
    ]
    _page(services, ticket, people, "\n".join(lines), "emergency")
    return "emergency_pages"


# Signed for but past the resolve deadline


def _overdue_due(settings: Settings, now: datetime) -> list[ColumnElement[bool]]:
    """Signed for, past the resolve deadline, not yet paged (emergencies: not paged lately)."""
    repage_before = now - timedelta(minutes=settings.escalation.emergency_overdue_repage_minutes)
    return [
        Ticket.status.in_(SIGNED),
        Ticket.resolve_due_at <= now,
        or_(
            Ticket.overdue_paged_at.is_(None),
            and_(Ticket.category == "emergency", Ticket.overdue_paged_at <= repage_before),
        ),
    ]


def _page_overdue(services: Services, ticket: Ticket) -> str:
    """Tell the holder and the grid leader (or the duty desk) that the resolve deadline has passed."""
    leaders = [ticket.grid.leader] if ticket.grid and ticket.grid.leader else community_desk(services.session)
    people = _unique([ticket.assignee, *leaders])
    late = _span(services.now - ticket.resolve_due_at)
    due = local_time(ticket.resolve_due_at, services.settings.timezone)
    holder = worker_title(ticket.assignee) if ticket.assignee else "暂无"
    lines = [
        f"【已超期】工单 #{ticket.id} 应在{due}前办结,已超期{late},请尽快处理。",
        *_ticket_lines(ticket),
        f"处理人:{holder}",
        f"办好后请回复“办结 {ticket.id} 处理说明”。",
    ]
    ticket.overdue_paged_at = services.now
    record_event(services, ticket, "overdue_paged", SYSTEM, f"办结已超期{late},通知{_names(people)}")
    _touch(services, ticket)
    _page(services, ticket, people, "\n".join(lines), "overdue")
    return "overdue_pages"


# Resolved, never rated: close


def _unrated_due(settings: Settings, now: datetime) -> list[ColumnElement[bool]]:
    """Resolved, unrated, and the rating was asked for rating_timeout_hours ago or more."""
    asked_before = now - timedelta(hours=settings.escalation.rating_timeout_hours)
    return [
        Ticket.status == "resolved",
        Ticket.rating.is_(None),
        Ticket.rating_requested_at <= asked_before,
    ]


def _close_unrated(services: Services, ticket: Ticket) -> str:
    """Close a resolved ticket the resident did not rate in time, and let them know."""
    hours = services.settings.escalation.rating_timeout_hours
    lifecycle.apply(services, ticket, "close", SYSTEM, f"居民{hours}小时未评价,自动关闭")
    _touch(services, ticket)
    tell_resident(
        services,
        ticket,
        f"您的工单 #{ticket.id} 已办结归档,感谢您的支持!如果问题又出现了,直接发消息告诉我们就行。",
    )
    return "closed_unrated"


# Shared pieces


def _ticket_lines(ticket: Ticket) -> list[str]:
    """Who, where and what, as in the push that opened the ticket."""
    resident = ticket.resident
    return [
        f"居民:{resident.name or '未登记姓名'} {resident.phone or ''}".rstrip(),
        f"地址:{resident.address or '未登记住址'}",
        f"内容:{ticket.summary}",
    ]


def _history(services: Services, ticket: Ticket) -> list[str]:
    """The ticket's last few audit events, oldest first, as lines a worker reads."""
    query = (
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id)
        .order_by(TicketEvent.id.desc())
        .limit(HISTORY_LENGTH)
    )
    events = reversed(list(services.session.scalars(query)))
    tz = services.settings.timezone
    return [f"· {local_time(event.created_at, tz)} {_describe(event)}" for event in events]


def _describe(event: TicketEvent) -> str:
    """One audit event in words a worker reads."""
    if event.kind == "opened":
        return "居民提交工单"
    if event.kind == "assigned":
        # The note is "网格员王芳(grid_worker)"; the reason in brackets is for the audit trail only.
        return f"派给{(event.note or '').split('(')[0]}"
    if event.actor == SYSTEM and event.note:
        return event.note
    label = EVENT_LABELS.get(event.kind, "更新")
    return f"{event.actor}{label}" + (f":{event.note}" if event.note else "")


def _holders(services: Services, ticket: Ticket) -> list[Worker]:
    """Whoever holds the ticket; the duty desk when nobody does."""
    return [ticket.assignee] if ticket.assignee else community_desk(services.session)


def _page(services: Services, ticket: Ticket, people: Iterable[Worker], text: str, kind: str) -> None:
    """Queue the same push to each person."""
    for worker in people:
        tell_worker(services, worker, ticket, text, kind)


def _unique(people: Iterable[Worker | None]) -> list[Worker]:
    """People in order, each once, nobody missing."""
    seen: dict[int, Worker] = {}
    for worker in people:
        if worker is not None:
            seen.setdefault(worker.id, worker)
    return list(seen.values())


def _names(people: Iterable[Worker]) -> str:
    """'网格员王芳、网格长赵建国', or '无人在岗'."""
    return "、".join(worker_title(worker) for worker in people) or "无人在岗"


def _span(delta: timedelta) -> str:
    """A stretch of time as people say it: '27分钟', '1小时30分钟', '18小时'."""
    minutes = max(1, math.ceil(delta.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes}分钟"
    return f"{hours}小时{minutes}分钟" if minutes else f"{hours}小时"


def _touch(services: Services, ticket: Ticket) -> None:
    # Force the versioned UPDATE even if nothing else changed, so a concurrent sweep's commit fails.
    ticket.updated_at = services.now
    flag_modified(ticket, "updated_at")


# Emergencies first: a sweep that falls behind should fall behind on the least urgent work.
RULES = (
    Rule("emergency", _emergency_due, _repage_emergency),
    Rule("escalation", _escalation_due, _escalate),
    Rule("overdue", _overdue_due, _page_overdue),
    Rule("ack warning", _ack_warning_due, _warn_unsigned),
    Rule("resolve warning", _resolve_warning_due, _warn_unresolved),
    Rule("unrated", _unrated_due, _close_unrated),
)
