"""The visit clock (三访): workers record home visits; due visits are reminded, overdue ones reported."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from config.settings import VisitSettings
from handlers.context import Reply, Services
from handlers.domain_settings import DomainSettings
from handlers.people.households import one_household
from storage.db import bulk_slice, snapshot, take_turns
from storage.models import Resident, Visit, Worker
from storage.outbox import queue_push
from storage.repositories import pushes
from storage.repositories import visits as visit_queries

HOUSEHOLD_LABELS = {"hardship": "特困户", "key": "重点户", "ordinary": "普通户"}
CADENCE_WORDS = {"hardship": "每周", "key": "每月", "ordinary": "每季度"}
DIGEST_KIND, OVERDUE_KIND = "visit_digest", "visit_overdue"
MAX_LISTED = 30
# Digests queued per transaction: a few hundred short rows hold the write lock for a moment only.
DIGESTS_PER_SLICE = 200
# Any constant unique to this job: PostgreSQL serialises the slices of two runs on it.
DIGEST_LOCK_KEY = 0x56495354  # "VIST"


def record_visit(services: Services, worker: Worker, target: str, note: str) -> Reply:
    """ "走访 <room, address or name> <note>": log the visit and restart the household's clock."""
    if not target:
        return Reply("请写上走访的住户,例如“走访 3号楼2单元301 身体不错,已送米面油”。")
    resident = one_household(services.session, worker, target, "走访 3号楼2单元301 情况")
    if isinstance(resident, str):
        return Reply(resident)
    services.session.add(
        Visit(resident_id=resident.id, worker_id=worker.id, visited_at=services.now, note=note or None)
    )
    resident.last_visit_at = services.now
    days = services.settings.visits.cadence_days(resident.household_category)
    next_due = _local_date(services.now + timedelta(days=days), services.settings.timezone)
    category = resident.household_category
    cadence = f"{HOUSEHOLD_LABELS.get(category, '')}{CADENCE_WORDS.get(category, '')}走访一次"
    return Reply(
        f"已记录走访:{resident.name or '未登记姓名'}({resident.address})。\n{cadence},下次请在{next_due}前。"
    )


def send_visit_digests(factory: sessionmaker[Session], settings: DomainSettings, now: datetime) -> int:
    """Once a day: each worker gets the visits coming due, each leader the overdue ones. Returns pushes."""
    if now.astimezone(ZoneInfo(settings.timezone)).hour < settings.visits.digest_hour:
        return 0
    since = _local_midnight(now, settings.timezone)
    # Every household is read, a million on a big register: without the write lock. The pushes follow
    # in slices, each checking again what was sent today, so a second run in between sends nothing twice.
    with snapshot(factory) as session:
        digests = _digests(session, settings, now, _digests_sent_since(session, since))
    pushes = 0
    for start in range(0, len(digests), DIGESTS_PER_SLICE):
        with bulk_slice(factory) as session:
            take_turns(session, DIGEST_LOCK_KEY)
            sent_today = _digests_sent_since(session, since)
            for kind, person_id, text in digests[start : start + DIGESTS_PER_SLICE]:
                if (kind, person_id) not in sent_today:
                    queue_push(session, now, worker=session.get_one(Worker, person_id), kind=kind, text=text)
                    pushes += 1
    return pushes


def _digests(
    session: Session, settings: DomainSettings, now: datetime, sent_today: set[tuple[str, int | None]]
) -> list[tuple[str, int, str]]:
    """(kind, worker id, text) of each digest due and not sent today."""
    by_worker: dict[Worker, list[tuple[Resident, datetime]]] = defaultdict(list)
    by_leader: dict[Worker, list[tuple[Resident, datetime]]] = defaultdict(list)
    for resident, due_at in households_due(session, settings.visits, now):
        grid = resident.building.grid
        if grid.worker is not None:
            by_worker[grid.worker].append((resident, due_at))
        if grid.leader is not None and due_at <= now:
            by_leader[grid.leader].append((resident, due_at))
    return [
        (kind, person.id, render(items, settings, now))
        for kind, groups, render in (
            (DIGEST_KIND, by_worker, _worker_digest),
            (OVERDUE_KIND, by_leader, _leader_digest),
        )
        for person, items in groups.items()
        if (kind, person.id) not in sent_today
    ]


def households_due(
    session: Session, visits: VisitSettings, now: datetime
) -> list[tuple[Resident, datetime]]:
    """Bound households whose next visit falls within the reminder lead, or has passed."""
    found: list[tuple[Resident, datetime]] = []
    for category in HOUSEHOLD_LABELS:
        days = visits.cadence_days(category)
        cutoff = now - timedelta(days=days - visits.remind_days_before)
        for resident in visit_queries.last_visited_by(session, category, cutoff):
            found.append((resident, (resident.last_visit_at or resident.created_at) + timedelta(days=days)))
    return sorted(found, key=lambda item: item[1])


def _digests_sent_since(session: Session, since: datetime) -> set[tuple[str, int | None]]:
    return set(pushes.kinds_sent_since(session, (DIGEST_KIND, OVERDUE_KIND), since))


def _worker_digest(items: list[tuple[Resident, datetime]], settings: DomainSettings, now: datetime) -> str:
    lines = [f"【走访提醒】以下{len(items)}户需要走访:"]
    lines += [f"{_household(r)} · {_when(due_at, settings, now)}" for r, due_at in items[:MAX_LISTED]]
    if len(items) > MAX_LISTED:
        lines.append(f"……另有{len(items) - MAX_LISTED}户")
    lines.append("走访后请回复“走访 地址 情况”记录,例如“走访 3号楼2单元301 身体不错”。")
    return "\n".join(lines)


def _leader_digest(items: list[tuple[Resident, datetime]], settings: DomainSettings, now: datetime) -> str:
    lines = [f"【走访逾期】您负责的网格有{len(items)}户走访已逾期:"]
    for resident, due_at in items[:MAX_LISTED]:
        grid = resident.building.grid
        worker = grid.worker.name if grid.worker else "无"
        lines.append(f"{grid.name} {_household(resident)} · {_when(due_at, settings, now)} · 网格员{worker}")
    if len(items) > MAX_LISTED:
        lines.append(f"……另有{len(items) - MAX_LISTED}户")
    return "\n".join(lines)


def _household(resident: Resident) -> str:
    label = HOUSEHOLD_LABELS.get(resident.household_category, "")
    return f"{resident.name or '未登记姓名'} {resident.address} {label}"


def _when(due_at: datetime, settings: DomainSettings, now: datetime) -> str:
    if due_at <= now:
        return f"已逾期{(now - due_at).days}天" if (now - due_at).days else "今天到期"
    return f"{_local_date(due_at, settings.timezone)}前"


def _local_midnight(now: datetime, timezone: str) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def _local_date(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local.month}月{local.day}日"
