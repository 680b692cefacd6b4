"""A resident reporting an outage a notice already announced gets the notice, not a new ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from handlers.language.intents import Classification
from handlers.notices.writing import KINDS, when_text
from storage.models import Notice, Resident
from storage.repositories import notices

# Kinds a report can be matched to: the repair kinds a notice is written for ("other" matches nothing).
MATCHED_KINDS = frozenset(KINDS) - {"other"}
# What the resident says to open a ticket anyway; a message that starts with it is never answered here.
ASK_FOR_TICKET = "报修"


def notice_for_report(
    session: Session,
    resident: Resident,
    classification: Classification | None,
    normalized: str,
    now: datetime,
) -> Notice | None:
    """The notice in force for the resident's building about what they report (category and kind)."""
    if classification is None or classification.category != "repair":
        return None
    if classification.kind not in MATCHED_KINDS or normalized.startswith(ASK_FOR_TICKET):
        return None
    if resident.building_id is None:
        return None
    return notices.in_force_about(session, now, resident.building_id, classification.kind)


def notice_reply(notice: Notice, timezone: str, *, how_to_report: bool = True) -> str:
    """The notice as the answer to a report of the outage, and how to open a ticket for something else."""
    lines = [
        f"社区已发布{KINDS[notice.kind]}通知:{' '.join(notice.text.split())}",
        f"时间:{when_text(notice, timezone)},预计{_end(notice, timezone)}恢复。",
    ]
    if how_to_report:
        lines.append(f"如果您遇到的是别的问题,请回复“{ASK_FOR_TICKET}”加上情况,我们会派网格员处理。")
    return "\n".join(lines)


def _end(notice: Notice, timezone: str) -> str:
    """The expected end as residents read it: the end part of when_text."""
    return when_text(notice, timezone).split("至")[1]


def count_answer(session: Session, notice: Notice) -> None:
    """One more report answered by this notice (shown on its console page), counted in the database."""
    notices.count_answer(session, notice.id)
