"""Writing, listing and ending notices; what a notice says to residents."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from storage.models import Notice
from storage.repositories import notices

# The notice's kind, named as the repair kinds of config/intents.toml, so an outage report matches it.
KINDS = {"water": "停水", "power": "停电", "elevator": "电梯检修", "other": "其他"}
TITLES = {"water": "停水通知", "power": "停电通知", "elevator": "电梯检修通知", "other": "社区通知"}
TEXT_CHARS = 100
LONGEST = timedelta(days=30)


@dataclass(frozen=True)
class Draft:
    """A notice as the form gives it: kind, text, buildings, and when it applies (aware datetimes)."""

    kind: str
    text: str
    building_ids: frozenset[int]
    starts_at: datetime
    ends_at: datetime


def refusal(draft: Draft, now: datetime) -> str | None:
    """Why this draft cannot be a notice (a sentence for staff), or None when it can."""
    if draft.kind not in KINDS:
        return "请选择通知类别。"
    if not draft.text:
        return "请写上通知内容。"
    if len(draft.text) > TEXT_CHARS:
        return f"通知内容请写短一些(最多{TEXT_CHARS}字)。"
    if not draft.building_ids:
        return "请至少选择一栋楼或一个网格。"
    if draft.ends_at <= draft.starts_at:
        return "结束时间要晚于开始时间。"
    if draft.ends_at <= now:
        return "结束时间已经过去了。"
    if draft.ends_at - draft.starts_at > LONGEST:
        return "一条通知最长30天,请分开发布。"
    return None


def write_notice(session: Session, now: datetime, author_id: int, draft: Draft) -> Notice:
    """Store a checked draft; the delivery job tells the residents (see handlers.notices.delivery)."""
    buildings = notices.buildings_with_ids(session, draft.building_ids)
    notice = Notice(
        kind=draft.kind,
        text=draft.text,
        starts_at=draft.starts_at,
        ends_at=draft.ends_at,
        author_id=author_id,
        created_at=now,
        buildings=buildings,
    )
    session.add(notice)
    session.flush()
    return notice


def end_notice(session: Session, notice_id: int, now: datetime) -> bool:
    """End a notice now; False when it had already ended."""
    return notices.end(session, notice_id, now)


def current_notices(
    session: Session, now: datetime, building_ids: Collection[int] | None = None
) -> list[Notice]:
    """Notices in force or still to come for these buildings, soonest end first, buildings loaded."""
    return notices.current(session, now, building_ids)


def when_text(notice: Notice, timezone: str) -> str:
    """'11月28日 09:00至18:00' (the end's date only when it is another day)."""
    zone = ZoneInfo(timezone)
    start, end = notice.starts_at.astimezone(zone), notice.ends_at.astimezone(zone)
    start_text = f"{start.month}月{start.day}日 {start:%H:%M}"
    end_text = f"{end:%H:%M}" if end.date() == start.date() else f"{end.month}月{end.day}日 {end:%H:%M}"
    return f"{start_text}至{end_text}"


def places(notice: Notice) -> str:
    """'3号楼、5号楼'."""
    return "、".join(building.name for building in notice.buildings)


def push_text(notice: Notice, timezone: str) -> str:
    """What a resident receives: title and buildings, time, the text (one line each, for templates too)."""
    return "\n".join(
        [
            f"【{TITLES[notice.kind]}】{places(notice)}",
            f"时间:{when_text(notice, timezone)}",
            " ".join(notice.text.split()),
        ]
    )
