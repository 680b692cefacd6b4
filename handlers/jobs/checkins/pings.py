"""The morning ping sweep and the one reminder, in set-based SQL: a few statements per slice of residents."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    false,
    literal,
    not_,
    null,
    or_,
    true,
)
from sqlalchemy.orm import Session, sessionmaker

from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins.states import CheckInResult
from handlers.jobs.checkins.timing import LocalMoment, Timing, local_moment
from handlers.register.entries import PLACEHOLDER_PREFIX
from storage.capabilities import CUSTOMER_SERVICE, SUBSCRIPTION, usable
from storage.db import PING_SWEEP_LOCK_KEY, bulk_slice, snapshot, take_turns
from storage.models import CheckIn, Resident, SubscriptionConsent, UTCDateTime
from storage.repositories import residents
from storage.repositories.checkins import (
    checkin_ids_where,
    counts_above,
    highest_checkin_id,
    insert_checkins,
    move_checkins,
    move_checkins_returning,
    queue_resident_pushes,
)

# PingSweep's hourly full pass, this many minutes past the hour: off the round times most pings use.
FULL_PASS_MINUTE = 7

PING = "您{greeting}!{community}问候您:今天身体还好吗?\n回复 1 报平安,回复 2 需要帮助。"
REMINDER = (
    "您好,今天还没收到您的平安回复,身体还好吗?\n回复 1 报平安,回复 2 需要帮助。不方便打字的话,发条语音也行。"
)


def ping_sweep(
    factory: sessionmaker[Session], settings: DomainSettings, now: datetime, *, after: datetime | None = None
) -> CheckInResult:
    """Record today's check-in of everyone due and queue their pings; `after`: see PingSweep.covered."""
    return _ping(factory, settings, now, after)[0]


@dataclass
class PingSweep:
    """The ping sweep of one scheduler process: between hourly full passes it reads only new ping times."""

    factory: sessionmaker[Session]
    settings: DomainSettings
    # The last run that recorded every ping due until then (all of its slices committed):
    # ping times up to it need not be read again today.
    covered: datetime | None = None

    def __call__(self, now: datetime) -> CheckInResult:
        """Run the sweep once; the full pass on the hour also picks up residents added or moved earlier."""
        local = local_moment(now, self.settings.timezone)
        after = self.covered if self._incremental(local) else None
        result, covered = _ping(self.factory, self.settings, now, after)
        if covered:
            self.covered = now
        return result

    def _incremental(self, local: LocalMoment) -> bool:
        """Read only new ping times: today is covered so far and this is not the hourly full pass."""
        if self.covered is None or local.minute % 60 == FULL_PASS_MINUTE:
            return False
        return local_moment(self.covered, self.settings.timezone).day == local.day


def _ping(
    factory: sessionmaker[Session], settings: DomainSettings, now: datetime, after: datetime | None
) -> tuple[CheckInResult, bool]:
    """The ping sweep, and whether it recorded every ping due by now (False: try again next minute)."""
    timing, local = Timing.of(settings), local_moment(now, settings.timezone)
    since = local_moment(after, settings.timezone).minute if after is not None else None
    due = _due_for_ping(timing, local, since, _pingable(settings, now))
    if due is None:
        return CheckInResult(), False
    result = CheckInResult()
    # Slices of their own transaction: the write lock is free between them, and a sweep stopped after
    # any slice is finished by the next run (each slice's rows and pings commit together; the
    # NOT EXISTS guard, checked again in each slice, skips whoever has today's row).
    for ids in _slices(_due_ids(factory, due), settings.checkins.sweep_slice_size):
        with bulk_slice(factory) as session:
            _add(result, _ping_slice(session, settings, timing, local, now, and_(due, Resident.id.in_(ids))))
    return result, True


def _due_ids(factory: sessionmaker[Session], due: ColumnElement[bool]) -> list[int]:
    """The residents due now, read without the write lock; each slice checks them again."""
    with snapshot(factory) as session:
        return residents.ids_where(session, [due])


def _slices(ids: list[int], size: int) -> Iterator[list[int]]:
    """The ids in runs of `size`."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _add(result: CheckInResult, more: CheckInResult) -> None:
    """Add one slice's counts to the run's."""
    for name in ("pinged", "unreachable", "skipped"):
        setattr(result, name, getattr(result, name) + getattr(more, name))


def _ping_slice(
    session: Session,
    settings: DomainSettings,
    timing: Timing,
    local: LocalMoment,
    now: datetime,
    due: ColumnElement[bool],
) -> CheckInResult:
    """Record today's check-ins of the residents due in one slice and queue their pings."""
    # This slice's rows are those above the highest id before it, so two sweeps' slices must not
    # overlap (on SQLite they cannot: one writer at a time).
    take_turns(session, PING_SWEEP_LOCK_KEY)
    before = highest_checkin_id(session)
    inserted = _insert_checkins(session, timing, local, now, due, _pingable(settings, now))
    if not inserted:
        return CheckInResult()
    _insert_pings(session, settings, local, now, before)
    return _counted(session, before)


def _counted(session: Session, before: int) -> CheckInResult:
    """How many rows of each kind this run inserted (a range of ids, so no index-wide GROUP BY)."""
    pinged, unreachable, skipped = counts_above(session, before, ("pinged", "unreachable", "skipped"))
    return CheckInResult(pinged=pinged, unreachable=unreachable, skipped=skipped)


def _due_for_ping(
    timing: Timing, local: LocalMoment, since: int | None, pingable: ColumnElement[bool]
) -> ColumnElement[bool] | None:
    """Residents without today's row whose ping time has come (after `since`); None in morning quiet hours."""
    if timing.quiet(local.minute) and not timing.quiet_until_tomorrow(local.minute):
        return None  # pings due now wait for the end of quiet hours, then the catch-up rule decides
    minute = Resident.checkin_minute
    due = minute <= local.minute if since is None else minute.between(since + 1, local.minute)
    if local.minute >= timing.list_minute and (since is None or since < timing.list_minute):
        # Known in advance not to be pinged today: recorded now, so the worker's one call list has them.
        due = or_(due, _unreachable(), ~pingable, timing.night_minute())
    return and_(minute.is_not(None), due, ~_has_checkin(local.day))


def _status(timing: Timing, local: LocalMoment, pingable: ColumnElement[bool]) -> ColumnElement[str]:
    """SQL: what today's new row records: unreachable (no way to ping without a template), skipped (too
    late, or at night) or pinged."""
    late = Resident.checkin_minute < local.minute - timing.catch_up
    tonight = true() if timing.quiet_until_tomorrow(local.minute) else timing.night_minute()
    return case(
        (or_(_unreachable(), ~pingable), "unreachable"), (or_(late, tonight), "skipped"), else_="pinged"
    )


def _insert_checkins(
    session: Session,
    timing: Timing,
    local: LocalMoment,
    now: datetime,
    due: ColumnElement[bool],
    pingable: ColumnElement[bool],
) -> int:
    """INSERT ... SELECT today's rows for the residents due, with NOT EXISTS as the portable guard."""
    status = _status(timing, local, pingable)
    pinged_at = case((status == "pinged", literal(now, UTCDateTime())), else_=null())
    return insert_checkins(session, local.day, status, pinged_at, due)


def _insert_pings(
    session: Session, settings: DomainSettings, local: LocalMoment, now: datetime, before: int
) -> None:
    """INSERT ... SELECT one outbox ping per row this run marked pinged."""
    text = ping_text(settings, local.minute)
    marked = (CheckIn.id > before, CheckIn.status == "pinged", CheckIn.pinged_at == now)
    queue_resident_pushes(session, "checkin_ping", text, now, _ping_channel(settings), marked)


def ping_text(settings: DomainSettings, minute: int) -> str:
    """The ping: a greeting for the time of day, one question, two answers."""
    # No gender in the register, so no 阿姨/叔叔: a wrong one hurts more than a plain 您.
    return PING.format(greeting=_greeting(minute), community=settings.community_name)


def _greeting(minute: int) -> str:
    """早上好, 中午好, 下午好 or 晚上好 for a local minute."""
    if minute < 11 * 60:
        return "早上好"
    if minute < 13 * 60:
        return "中午好"
    return "下午好" if minute < 18 * 60 else "晚上好"


def _pingable(settings: DomainSettings, now: datetime) -> ColumnElement[bool]:
    """SQL: a ping reaches the resident without a template: a subscription message they accepted, or a
    customer-service message while the window their last message opened is still open."""
    return or_(_consented(settings), _window_usable(settings, now))


def _window_usable(settings: DomainSettings, now: datetime) -> ColumnElement[bool]:
    """SQL: the resident's customer-service window is open, and the account may send in it (not declared
    off, and no 48001 kept by the channel)."""
    if not settings.customer_service_messages:
        return false()
    cutoff = now - timedelta(hours=settings.customer_service_window_hours)
    # Both sides NOT NULL: this is negated, and NOT NULL would count a resident never heard from as pingable.
    window = and_(Resident.last_message_at.is_not(None), Resident.last_message_at > cutoff)
    return and_(usable(CUSTOMER_SERVICE), window)


def _consented(settings: DomainSettings) -> ColumnElement[bool]:
    """SQL: the resident accepted the account's subscription template for the ping (false with none set,
    and while WeChat says the account may not send subscription messages: 48001, kept by the channel)."""
    template_id = settings.subscriptions.checkin_template_id
    if not template_id:
        return false()
    accepted = exists().where(
        SubscriptionConsent.openid == Resident.openid,
        SubscriptionConsent.template_id == template_id,
        SubscriptionConsent.status == "accept",
    )
    return and_(usable(SUBSCRIPTION), accepted)


def _ping_channel(settings: DomainSettings) -> ColumnElement[str]:
    """SQL: the channel a ping is queued for: the subscription message if accepted, else customer-service."""
    return case((_consented(settings), literal("subscription")), else_=literal("custom"))


def _unreachable() -> ColumnElement[bool]:
    """SQL: the resident cannot receive a push: not bound to WeChat yet, or unfollowed."""
    return or_(Resident.openid.startswith(PLACEHOLDER_PREFIX), not_(Resident.subscribed))


def _has_checkin(day: date) -> ColumnElement[bool]:
    """SQL: the resident already has a check-in row for the day (the unique index answers it)."""
    return exists().where(CheckIn.resident_id == Resident.id, CheckIn.day == day)


# Reminders: set-based too (a morning where many elders are slow to answer is normal)


def remind_sweep(factory: sessionmaker[Session], settings: DomainSettings, now: datetime) -> CheckInResult:
    """One reminder per unanswered ping; none at night, when stale or unreachable (the knock clock runs)."""
    timing, local = Timing.of(settings), local_moment(now, settings.timezone)
    due = (CheckIn.status == "pinged", CheckIn.pinged_at <= now - timedelta(minutes=timing.reminder))
    stale = CheckIn.pinged_at < now - timedelta(minutes=timing.reminder + timing.catch_up)
    reachable = exists().where(
        Resident.id == CheckIn.resident_id, not_(_unreachable()), _pingable(settings, now)
    )
    silent = true() if timing.quiet(local.minute) else or_(stale, ~reachable)
    with snapshot(factory) as session:
        due_ids = checkin_ids_where(session, due)
    result = CheckInResult()
    for ids in _slices(due_ids, settings.checkins.sweep_slice_size):
        with bulk_slice(factory) as session:
            still_due = (*due, CheckIn.id.in_(ids))
            muted = move_checkins(session, [*still_due, silent], status="reminded", reminded_at=None)
            result.silent_reminders += muted
            result.reminded += _remind(session, settings, still_due, now)
    return result


def _remind(
    session: Session, settings: DomainSettings, due: tuple[ColumnElement[bool], ...], now: datetime
) -> int:
    """Move the check-ins still due to reminded and queue a reminder for each row this run moved."""
    # Only the rows this UPDATE won: a rival sweep at the same moment may have moved others in the slice.
    reminded = move_checkins_returning(session, due, status="reminded", reminded_at=now)
    if reminded:
        channel = _ping_channel(settings)
        queue_resident_pushes(session, "checkin_reminder", REMINDER, now, channel, [CheckIn.id.in_(reminded)])
    return len(reminded)
