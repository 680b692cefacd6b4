"""The daily call list: residents nobody could ping today, one push per worker, each resident listed once."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session, sessionmaker

from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins.states import CheckInResult
from handlers.jobs.checkins.timing import NIGHT, LocalMoment, Timing, local_moment
from handlers.register.entries import PLACEHOLDER_PREFIX
from handlers.tickets.core import choose_assignee, community_desk
from storage.db import bulk_slice, snapshot
from storage.models import CheckIn, Resident, Worker
from storage.outbox import queue_push
from storage.repositories.checkins import move_checkins, unlisted_of_day

log = logging.getLogger(__name__)

CALL_LIST = ("unreachable", "skipped")
CALL_LIST_LINES = 30
CLAIM_CHUNK = 500


def call_list_sweep(factory: sessionmaker[Session], settings: DomainSettings, now: datetime) -> CheckInResult:
    """From the default check-in time on, push each worker the residents to phone today, each listed once."""
    timing, local = Timing.of(settings), local_moment(now, settings.timezone)
    if local.minute < timing.list_minute:
        return CheckInResult()
    # Read without the write lock (a million-elder register takes seconds), then claimed and pushed in
    # slices: a list whose residents changed meanwhile is left for the next run to read again.
    with snapshot(factory) as session:
        lists = [
            _CallList(
                worker.id if worker else None,
                [checkin.id for checkin, _ in entries],
                _call_list_text(timing, local, entries, night=timing.quiet(local.minute)),
            )
            for worker, entries in _call_groups(session, local.day)
        ]
    sent = 0
    for batch in _batches(lists, settings.checkins.sweep_slice_size):
        with bulk_slice(factory) as session:
            sent += sum(_send(session, call_list, now) for call_list in batch)
    return CheckInResult(call_lists=sent)


@dataclass(frozen=True)
class _CallList:
    """One worker's list as read: whom to push it to, the check-ins on it, and its text."""

    worker_id: int | None
    checkin_ids: list[int]
    text: str


def _batches(lists: list[_CallList], size: int) -> Iterator[list[_CallList]]:
    """Lists in runs of about `size` check-ins, for one transaction each."""
    batch: list[_CallList] = []
    listed = 0
    for call_list in lists:
        batch.append(call_list)
        listed += len(call_list.checkin_ids)
        if listed >= size:
            yield batch
            batch, listed = [], 0
    if batch:
        yield batch


def _send(session: Session, call_list: _CallList, now: datetime) -> bool:
    """Claim the list's check-ins and queue the push; False when they changed since they were read."""
    try:
        with session.begin_nested():
            if not _claim(session, call_list.checkin_ids, now):
                raise _Raced
    except _Raced:
        log.info("call list: check-ins changed or listed by another process; the next run reads them again")
        return False
    if call_list.worker_id is None:
        log.warning("call list: %s residents and nobody on duty to phone them", len(call_list.checkin_ids))
        return False
    worker = session.get_one(Worker, call_list.worker_id)
    queue_push(session, now, worker=worker, kind="checkin_call_list", text=call_list.text)
    return True


class _Raced(Exception):
    """Another process listed some of these check-ins first, or one was answered: undo this list."""


Entry = tuple[CheckIn, Resident]


def _call_groups(session: Session, day: date) -> list[tuple[Worker | None, list[Entry]]]:
    """Today's unlisted unreachable and skipped check-ins, grouped by who looks after the resident."""
    desk = community_desk(session)
    groups: dict[int | None, tuple[Worker | None, list[Entry]]] = {}
    for checkin, resident in unlisted_of_day(session, day, CALL_LIST):
        grid = resident.building.grid if resident.building else None
        worker = choose_assignee(desk, grid).worker
        groups.setdefault(worker.id if worker else None, (worker, []))[1].append((checkin, resident))
    return list(groups.values())


def _claim(session: Session, ids: Sequence[int], now: datetime) -> bool:
    """Mark check-ins as listed (missed_at); False when another process listed any of them first."""
    claimed = 0
    for start in range(0, len(ids), CLAIM_CHUNK):
        chunk = ids[start : start + CLAIM_CHUNK]
        unlisted = (CheckIn.id.in_(chunk), CheckIn.status.in_(CALL_LIST), CheckIn.missed_at.is_(None))
        claimed += move_checkins(session, unlisted, missed_at=now)
    return claimed == len(ids)


def _call_list_text(timing: Timing, local: LocalMoment, entries: Sequence[Entry], night: bool) -> str:
    """The worker's list: who to phone today, where they live, and why they got no ping."""
    lines = [
        f"{NIGHT if night else ''}【电话问候名单 · {local.day.month}月{local.day.day}日】",
        f"以下{len(entries)}位老人今天收不到平安问候,请打电话问声平安,联系不上请上门看看:",
    ]
    for number, (checkin, resident) in enumerate(entries[:CALL_LIST_LINES], start=1):
        lines.append(
            f"{number}. {resident.name or '未登记姓名'} {resident.phone or '无电话'} · "
            f"{resident.address or '未登记住址'} · {_why_not_pinged(timing, checkin, resident)}"
        )
    if len(entries) > CALL_LIST_LINES:
        lines.append(f"……另有{len(entries) - CALL_LIST_LINES}位未列出,请向社区值班台索取完整名单。")
    return "\n".join(lines)


def _why_not_pinged(timing: Timing, checkin: CheckIn, resident: Resident) -> str:
    """The reason shown on the call list, in the worker's words."""
    if checkin.status == "unreachable":
        if resident.openid.startswith(PLACEHOLDER_PREFIX):
            return "未绑定微信"
        # Followed, but neither subscribed to the ping nor heard from lately: only a template could reach
        # them, and a daily template is abuse.
        return "已取消关注公众号" if not resident.subscribed else "48小时内没在公众号发过消息,问候发不出去"
    minute = resident.checkin_minute
    if minute is not None and timing.wraps and minute >= timing.quiet_start:
        return "问候时间在夜间"
    return "系统故障,问候未按时发出"
