"""Missed check-ins: a 敲门 task per elder, few rows, one transaction each; the family hears the outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, or_
from sqlalchemy.orm import Session, sessionmaker

from handlers.context import Services
from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins.family import (
    alert_followers,
    alerted_family,
    family_address,
    family_alert,
    push_family,
)
from handlers.jobs.checkins.states import CheckInResult
from handlers.jobs.checkins.timing import NIGHT, Timing, clock, day_label, is_night
from handlers.language.intents import IntentClassifier
from handlers.tickets.core import assignee_phrase, open_ticket
from storage.db import bulk_slice, snapshot
from storage.models import CheckIn, Resident, Ticket
from storage.repositories import pushes
from storage.repositories import tickets as ticket_queries
from storage.repositories.checkins import checkin_ids_where, move_checkins

log = logging.getLogger(__name__)

KNOCK_ENDED = ("resolved", "closed", "cancelled")


def knock_sweep(
    factory: sessionmaker[Session], settings: DomainSettings, classifier: IntentClassifier, now: datetime
) -> CheckInResult:
    """Open a 敲门 task for each check-in unanswered after the reminder; report settled ones to the family."""
    result = CheckInResult()
    steps: tuple[tuple[list[ColumnElement[bool]], Callable[[Services, int], str | None]], ...] = (
        (_knock_due(settings, now), _knock),
        (_visit_done(), _report_visit),
    )
    for conditions, act in steps:
        for checkin_id in _ids(factory, conditions):
            counted = _in_own_transaction(factory, settings, classifier, now, act, checkin_id)
            if counted is not None:
                setattr(result, counted, getattr(result, counted) + 1)
    return result


def _knock_due(settings: DomainSettings, now: datetime) -> list[ColumnElement[bool]]:
    """Reminded (or silently passed) and still unanswered knock_after_minutes after the reminder."""
    timing = Timing.of(settings)
    knock = timedelta(minutes=timing.knock)
    return [
        CheckIn.status == "reminded",
        CheckIn.pinged_at <= now - timedelta(minutes=timing.reminder) - knock,
        or_(CheckIn.reminded_at.is_(None), CheckIn.reminded_at <= now - knock),
    ]


def _visit_done() -> list[ColumnElement[bool]]:
    """A knock task that a worker resolved (or someone cancelled) while the elder stayed silent."""
    ended = exists().where(Ticket.id == CheckIn.ticket_id, Ticket.status.in_(KNOCK_ENDED))
    return [CheckIn.status == "missed", ended]


def _ids(factory: sessionmaker[Session], conditions: list[ColumnElement[bool]]) -> list[int]:
    """The check-in ids the conditions find due, read without the write lock."""
    with snapshot(factory) as session:
        return checkin_ids_where(session, conditions)


def _in_own_transaction(
    factory: sessionmaker[Session],
    settings: DomainSettings,
    classifier: IntentClassifier,
    now: datetime,
    act: Callable[[Services, int], str | None],
    checkin_id: int,
) -> str | None:
    """Run one step for one check-in; a failure is logged and counted, and the others still run."""
    try:
        with bulk_slice(factory) as session:
            return act(Services(session, settings, classifier, now), checkin_id)
    except Exception:
        # One broken row must not keep the next elder's knock task from opening.
        log.exception("check-in sweep (%s) failed on check-in %s", act.__name__, checkin_id)
        return "failed"


def _knock(services: Services, checkin_id: int) -> str | None:
    """Claim the check-in, open the knock ticket for the grid worker, and tell the family."""
    due = [CheckIn.id == checkin_id, *_knock_due(services.settings, services.now)]
    claimed = move_checkins(services.session, due, status="missed", missed_at=services.now)
    if not claimed:
        return None
    checkin = services.session.get_one(CheckIn, checkin_id)
    resident = services.session.get_one(Resident, checkin.resident_id)
    summary = _knock_summary(services, resident, checkin)
    ticket = open_ticket(services, resident, "knock", summary, actor="系统")
    checkin.ticket_id = ticket.id
    night = is_night(services)
    if night:
        _mark_night(services.session, ticket.id)
    for contact in resident.family:
        text = family_alert(services, resident, checkin, ticket, night)
        push_family(services, family_address(contact), contact.name, ticket.id, "family_alert", text)
    alert_followers(services, resident, checkin, ticket, night)
    log.info("knock task #%s opened for resident %s", ticket.id, resident.id)
    return "knocked"


def _knock_summary(services: Services, resident: Resident, checkin: CheckIn) -> str:
    """What the worker reads on the knock ticket: which day, what went unanswered, how to reach the elder."""
    asked = f"{clock(services, checkin.pinged_at)}的问候"
    if checkin.reminded_at is not None:
        asked += f"和{clock(services, checkin.reminded_at)}的提醒都"
    parts = [
        f"{day_label(services, checkin.day)}未报平安:{asked}没有回复。",
        f"电话 {resident.phone or '未登记'},住址 {resident.address or '未登记'}。",
    ]
    if resident.family:
        family = "、".join(f"{c.name}({c.relation or '家属'}){c.phone or ''}" for c in resident.family)
        parts.append(f"家属:{family}。")
    parts.append("请先打电话,联系不上请立即上门敲门查看。")
    return "".join(parts)


def _report_visit(services: Services, checkin_id: int) -> str | None:
    """The worker settled the knock ticket: the family hears the outcome in the worker's words."""
    claimed = move_checkins(services.session, [CheckIn.id == checkin_id, *_visit_done()], status="visited")
    if not claimed:
        return None
    checkin = services.session.get_one(CheckIn, checkin_id)
    ticket = services.session.get_one(Ticket, checkin.ticket_id)
    resident = ticket.resident
    who = assignee_phrase(ticket, with_phone=True)
    note = _last_note(services.session, ticket.id)
    # Neutral on purpose: a resolved task does not mean all is well (the note may say 已送医).
    text = (
        f"【敲门结果】您的家人{resident.name or ''}{day_label(services, checkin.day)}未报平安,"
        f"{who}已上门处理" + (f":{_sentence(note)}" if note else "。") + "如有疑问请直接联系网格员。"
    )
    for recipient, name in alerted_family(services.session, ticket.id):
        push_family(services, recipient, name, ticket.id, "family_visit_result", text)
    return "visited"


def _sentence(note: str) -> str:
    """A worker's note ending in exactly one full stop."""
    return note.rstrip("。.!!") + "。"  # noqa: B005 (a set of end marks, not a suffix)


def _last_note(session: Session, ticket_id: int) -> str | None:
    """The note of the last 办结 or 取消, if one was given."""
    return ticket_queries.last_note(session, ticket_id, ("resolve", "cancel"))


def _mark_night(session: Session, ticket_id: int) -> None:
    """Prefix the pushes just queued for a ticket with the night marker."""
    for row in pushes.of_ticket(session, ticket_id):
        row.text = NIGHT + row.text
