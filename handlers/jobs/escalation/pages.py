"""What the sweep's pushes say and who gets them: the ticket's lines, its recent history, names, time."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy.orm.attributes import flag_modified

from handlers.context import Services
from handlers.texts import local_time
from handlers.tickets.core import community_desk, worker_title
from handlers.tickets.lifecycle import ACTION_LABELS, tell_worker
from storage.models import Ticket, TicketEvent, Worker
from storage.repositories import tickets as ticket_queries

SYSTEM = "系统"
HISTORY_LENGTH = 6
EVENT_LABELS = ACTION_LABELS | {"follow_up": "补充信息"}


def ticket_lines(ticket: Ticket) -> list[str]:
    """Who, where and what, as in the push that opened the ticket."""
    resident = ticket.resident
    return [
        f"居民:{resident.name or '未登记姓名'} {resident.phone or ''}".rstrip(),
        f"地址:{resident.address or '未登记住址'}",
        f"内容:{ticket.summary}",
    ]


def ticket_history(services: Services, ticket: Ticket) -> list[str]:
    """The ticket's last few audit events, oldest first, as lines a worker reads."""
    events = reversed(ticket_queries.latest_events(services.session, ticket.id, HISTORY_LENGTH))
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


def holders_of(services: Services, ticket: Ticket) -> list[Worker]:
    """Whoever holds the ticket; the duty desk when nobody does."""
    return [ticket.assignee] if ticket.assignee else community_desk(services.session)


def page(services: Services, ticket: Ticket, people: Iterable[Worker], text: str, kind: str) -> None:
    """Queue the same push to each person."""
    for worker in people:
        tell_worker(services, worker, ticket, text, kind)


def unique_people(people: Iterable[Worker | None]) -> list[Worker]:
    """People in order, each once, nobody missing."""
    seen: dict[int, Worker] = {}
    for worker in people:
        if worker is not None:
            seen.setdefault(worker.id, worker)
    return list(seen.values())


def names_of(people: Iterable[Worker]) -> str:
    """'网格员王芳、网格长赵建国', or '无人在岗'."""
    return "、".join(worker_title(worker) for worker in people) or "无人在岗"


def span(delta: timedelta) -> str:
    """A stretch of time as people say it: '27分钟', '1小时30分钟', '18小时'."""
    minutes = max(1, math.ceil(delta.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes}分钟"
    return f"{hours}小时{minutes}分钟" if minutes else f"{hours}小时"


def touch(services: Services, ticket: Ticket) -> None:
    # Force the versioned UPDATE even if nothing else changed, so a concurrent sweep's commit fails.
    ticket.updated_at = services.now
    flag_modified(ticket, "updated_at")
