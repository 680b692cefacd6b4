"""What staff do to a ticket (sign, progress, resolve, send back, reassign, extend, merge), typed arguments.

Each operation returns an Outcome; a refusal (unknown ticket, not the person's grid, a state the
machine refuses, missing words, bad hours) is an Outcome too, never an exception. The WeChat commands
(handlers/messages/worker_commands.py) and the staff console call these same functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from handlers.context import Services
from handlers.messages.worker_media import result_photo_note
from handlers.texts import local_time
from handlers.tickets.core import OPEN_STATUSES, hand_to, new_ticket_push, record_event, worker_title
from handlers.tickets.ladder import LEADER, ladder, level_of
from handlers.tickets.lifecycle import TransitionError, apply, may_act, tell_resident, tell_worker
from handlers.tickets.outcome import Outcome, Refusal, Told, done, refused
from storage.models import Ticket, Worker

MAY_REASSIGN = ("leader", "community", "street")
DUPLICATE_OF = re.compile(r"并入 #(\d+)$")
# More digits than this is no extension anyone means (and int() refuses thousands of digits).
HOURS_DIGITS = 4


def hours_from(text: str) -> int | None:
    """Whole hours as staff wrote them (full-width digits too); None when not a plain number."""
    text = text.strip()
    digits = text.lstrip("0") or "0"
    return int(digits) if text.isdecimal() and len(digits) <= HOURS_DIGITS else None


def on_ticket(
    services: Services, worker: Worker, action: str, number: int, operate: Callable[[Ticket], Outcome]
) -> Outcome:
    """Find the ticket, check the person may act on it, and run the operation; refusals as outcomes."""
    ticket = services.session.get(Ticket, number)
    if ticket is None:
        return refused(action, number, None, Refusal.NOT_FOUND)
    if not may_act(worker, ticket):
        return refused(action, number, ticket, Refusal.NOT_YOURS)
    try:
        return operate(ticket)
    except TransitionError:
        # Raised before anything changed: every operation's first change is its transition.
        return refused(action, number, ticket, Refusal.NOT_NOW)


def acknowledge(services: Services, worker: Worker, number: int) -> Outcome:
    """签收: the person takes the ticket; the resident hears who will come."""

    def operate(ticket: Ticket) -> Outcome:
        before = ticket.status
        apply(services, ticket, "acknowledge", worker.name)
        ticket.assignee = worker
        phone = f"(电话 {worker.phone})" if worker.phone else ""
        told = tell_resident(
            services,
            ticket,
            f"您的工单 #{ticket.id} 已由{worker_title(worker)}签收,会尽快联系您{phone}。",
            kind="acknowledged",  # superseded once the ticket is resolved (bot/dispatcher/budget.py)
        )
        return done("acknowledge", ticket, before, [told])

    return on_ticket(services, worker, "acknowledge", number, operate)


def progress(services: Services, worker: Worker, number: int, note: str) -> Outcome:
    """进度: a note of progress, passed on to the resident."""

    def operate(ticket: Ticket) -> Outcome:
        said = note.strip()
        if not said:
            return refused("progress", number, ticket, Refusal.NOTE_MISSING)
        before = ticket.status
        apply(services, ticket, "progress", worker.name, said)
        told = tell_resident(services, ticket, f"工单 #{ticket.id} 有新进展:{said}({worker_title(worker)})")
        return done("progress", ticket, before, [told])

    return on_ticket(services, worker, "progress", number, operate)


def resolve(services: Services, worker: Worker, number: int, note: str = "") -> Outcome:
    """办结: done; the resident is asked to rate it (a door-knock closes at once: nothing to rate)."""

    def operate(ticket: Ticket) -> Outcome:
        before, said = ticket.status, note.strip()
        apply(services, ticket, "resolve", worker.name, said or None)
        if ticket.category == "knock":
            # A door-knock is the worker's own check on an elder: nothing for the elder to rate.
            apply(services, ticket, "close", worker.name, "敲门探访已完成")
            return done("resolve", ticket, before, [])
        ticket.rating_requested_at = services.now
        told_text = f":{said}" if said else "。"
        photos = result_photo_note(services, ticket)
        told_text += f"\n{photos}" if photos else ""
        told = tell_resident(
            services,
            ticket,
            f"您的工单 #{ticket.id} 已办结{told_text}\n请为这次服务评价:回复 1 满意,2 基本满意,3 不满意。",
            kind="rating_request",
        )
        return done("resolve", ticket, before, [told])

    return on_ticket(services, worker, "resolve", number, operate)


def send_back(services: Services, worker: Worker, number: int, reason: str) -> Outcome:
    """退单: back to the grid leader (or the office) to be dispatched again."""

    def operate(ticket: Ticket) -> Outcome:
        why = reason.strip()
        if not why:
            return refused("send_back", number, ticket, Refusal.NOTE_MISSING)
        rungs = [rung for rung in ladder(services.session, ticket) if rung.level >= LEADER]
        target = next((w for rung in rungs for w in rung.workers if w.id != worker.id), None)
        if target is None:
            return refused("send_back", number, ticket, Refusal.NOBODY_TO_TAKE_IT)
        before = ticket.status
        apply(services, ticket, "send_back", worker.name, why)
        hand_to(services, ticket, target, level=max(LEADER, _level_of(services, ticket, target)))
        told = tell_worker(
            services,
            target,
            ticket,
            f"【退单】工单 #{ticket.id} 被{worker_title(worker)}退回:{why}\n内容:{ticket.summary}\n"
            f"请回复“转派 {ticket.id} 姓名”重新派单,或“签收 {ticket.id}”自己处理。",
            kind="sent_back",
        )
        return done("send_back", ticket, before, [told], assignee=target)

    return on_ticket(services, worker, "send_back", number, operate)


def reassign(services: Services, worker: Worker, number: int, assignee: Worker | None) -> Outcome:
    """转派 (leaders and offices): the ticket goes to a named colleague, who must sign for it anew."""

    def operate(ticket: Ticket) -> Outcome:
        if worker.role not in MAY_REASSIGN:
            return refused("reassign", number, ticket, Refusal.NOT_PERMITTED)
        if assignee is None:
            return refused("reassign", number, ticket, Refusal.UNKNOWN_ASSIGNEE)
        previous = ticket.assignee
        if previous is not None and previous.id == assignee.id:
            # Nothing moves, so nobody is paged or told, and the audit trail stays as it was.
            return refused("reassign", number, ticket, Refusal.UNCHANGED, assignee=assignee)
        before = ticket.status
        told = hand_over(services, ticket, assignee, worker.name)
        # The leader who took back a sent-back ticket and passes it on needs no push about their own act.
        if previous is not None and previous.id != worker.id:
            text = f"工单 #{ticket.id} 已由{worker.name}转派给{assignee.name}。"
            told.append(tell_worker(services, previous, ticket, text, "reassigned"))
        return done("reassign", ticket, before, told, assignee=assignee)

    return on_ticket(services, worker, "reassign", number, operate)


def hand_over(
    services: Services, ticket: Ticket, target: Worker, actor: str, why: str = ""
) -> list[Told | None]:
    """Reassign a ticket to someone who must sign for it anew; they and the resident are told."""
    apply(services, ticket, "reassign", actor, f"{why}转派给{target.name}")
    hand_to(services, ticket, target, level=_level_of(services, ticket, target))
    push = new_ticket_push(services, ticket, heading="转派工单")
    return [
        tell_worker(services, target, ticket, push, kind="reassigned"),
        tell_resident(
            services, ticket, f"您的工单 #{ticket.id} 已转由{worker_title(target)}负责,会尽快联系您。"
        ),
    ]


def extend(services: Services, worker: Worker, number: int, hours: int | None, reason: str) -> Outcome:
    """延期: the deadline to resolve moves by whole hours (None: not a number), for a stated reason."""

    def operate(ticket: Ticket) -> Outcome:
        limit = services.settings.escalation.max_extension_hours
        if hours is None or not 1 <= hours <= limit:
            return refused("extend", number, ticket, Refusal.BAD_HOURS)
        why = reason.strip()
        if not why:
            return refused("extend", number, ticket, Refusal.NOTE_MISSING)
        if services.now >= ticket.resolve_due_at:
            return refused("extend", number, ticket, Refusal.PAST_DUE)
        before = ticket.status
        apply(services, ticket, "extend", worker.name, f"延期{hours}小时:{why}")
        ticket.resolve_due_at += timedelta(hours=hours)
        ticket.resolve_warned_at = ticket.overdue_paged_at = None
        when = local_time(ticket.resolve_due_at, services.settings.timezone)
        leader = ticket.grid.leader if ticket.grid else None
        told: list[Told | None] = []
        if leader is not None and leader.id != worker.id:
            text = f"{worker_title(worker)}将工单 #{ticket.id} 延期{hours}小时:{why}"
            told.append(tell_worker(services, leader, ticket, text, kind="extended"))
        told.append(tell_resident(services, ticket, f"您的工单 #{ticket.id} 预计在{when}前办好。原因:{why}"))
        return done("extend", ticket, before, told)

    return on_ticket(services, worker, "extend", number, operate)


def merge_duplicate(services: Services, worker: Worker, number: int, original: int | None) -> Outcome:
    """合并 (leaders and offices): the same problem as open ticket `original`, handled there from now on."""

    def operate(ticket: Ticket) -> Outcome:
        if worker.role not in MAY_REASSIGN:
            return refused("duplicate", number, ticket, Refusal.NOT_PERMITTED)
        kept = services.session.get(Ticket, original) if original is not None else None
        # The kept ticket must be one this person may act on too: no merging into another grid's ticket.
        mergeable = kept is not None and kept.id != ticket.id and kept.status in OPEN_STATUSES
        if kept is None or not mergeable or not may_act(worker, kept):
            return refused("duplicate", number, ticket, Refusal.UNKNOWN_ORIGINAL)
        before = ticket.status
        apply(services, ticket, "duplicate", worker.name, duplicate_note(kept.id))
        record_event(services, kept, "merged", worker.name, f"并入了重复的工单 #{ticket.id}:{ticket.summary}")
        text = f"您反映的问题与工单 #{kept.id} 是同一件事,已合并到 #{kept.id} 一起处理。谢谢您的反映!"
        return done("duplicate", ticket, before, [tell_resident(services, ticket, text)], original=kept)

    return on_ticket(services, worker, "duplicate", number, operate)


def duplicate_note(original: int) -> str:
    """The audit note of a merged duplicate; DUPLICATE_OF reads the kept ticket's number back."""
    return f"与工单 #{original} 是同一件事,并入 #{original}"


def duplicate_of(note: str | None) -> int | None:
    """The ticket a duplicate was merged into, from its audit note."""
    found = DUPLICATE_OF.search(note or "")
    return int(found.group(1)) if found else None


def _level_of(services: Services, ticket: Ticket, worker: Worker) -> int:
    """Where a person stands on this ticket's ladder (the grid worker's level when not on it)."""
    return level_of(ladder(services.session, ticket), worker)
