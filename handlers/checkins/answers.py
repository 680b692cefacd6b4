"""The daily check-in of elders living alone: a ping, one reminder, a 敲门 task, and the family told.

One CheckIn row per resident and local day carries the state:
pinged -> reminded -> missed (a knock ticket is open) -> answered, or visited (the knock ticket was
settled by a worker); help (the answer asked for help); unreachable (no way to ping them) and skipped
(a ping not sent: too late after downtime, or due at night), both of which go on the worker's one
daily call list. The unique (resident_id, day) constraint and UPDATEs conditional on the status they
move from make every sweep idempotent. The flow and the catch-up policy: docs/checkins.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Date,
    Insert,
    Select,
    and_,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session, selectinload, sessionmaker

from config.settings import Settings
from handlers.context import Incoming, Reply, Services
from handlers.language.intents import IntentClassifier
from handlers.language.normalize import normalize
from handlers.lifecycle import WORKING, apply, tell_worker
from handlers.register.importer import PLACEHOLDER_PREFIX
from handlers.requests import handle_request
from handlers.resident_commands import awaiting_rating
from handlers.residents import pending_category
from handlers.tally import Tally
from handlers.tickets import (
    OPEN_STATUSES,
    assignee_phrase,
    attach_message,
    choose_assignee,
    community_desk,
    open_ticket,
    queue_push,
)
from storage.db import PING_SWEEP_LOCK_KEY, take_turns, transaction
from storage.demo import minutes_after_midnight
from storage.models import (
    Building,
    CheckIn,
    FamilyContact,
    OutboxMessage,
    Resident,
    Ticket,
    TicketEvent,
    UTCDateTime,
    Worker,
)

log = logging.getLogger(__name__)

SYSTEM = "系统"
NIGHT = "(夜间提醒)"
# Residents imported from the household register carry this openid until they bind on WeChat.
# Check-ins a message from the resident turns into "answered".
OPEN_ROWS = ("pinged", "reminded", "unreachable", "skipped")
CALL_LIST = ("unreachable", "skipped")
KNOCK_ENDED = ("resolved", "closed", "cancelled")
CALL_LIST_LINES = 30
# PingSweep's hourly full pass, this many minutes past the hour: off the round times most pings use.
FULL_PASS_MINUTE = 7
CLAIM_CHUNK = 500
# Events a person has to do themselves; automatic ones (location reports, unfollow) prove nothing.
PROOF_EVENTS = frozenset({"subscribe", "subscribe_scan", "scan", "click", "view"})

# Compared with the normalized message: simplified, no punctuation, fillers (嗯, 啊) dropped.
OK_ANSWERS = frozenset(
    {
        "1", "好", "好的", "很好", "挺好", "挺好的", "还好", "还行", "都好", "我很好", "我挺好", "我好",
        "我还好", "身体很好", "身体挺好", "身体还好", "一切都好", "一切正常", "平安", "报平安", "我平安",
        "平安无事", "安好", "没事", "没事儿", "我没事", "没问题", "好着呢", "放心", "ok",
    }
)  # fmt: skip
HELP_ANSWERS = frozenset(
    {
        "2", "不好", "不太好", "很不好", "身体不好", "帮忙", "帮帮我", "请帮忙", "需要帮助", "需要帮忙",
        "不舒服", "我不舒服", "身体不舒服", "难受", "不行", "来人", "快来人",
    }
)  # fmt: skip
# Inside a longer answer the classifier does not place ("今天不太舒服"), these still mean "not well".
HELP_MARKERS = ("不舒服", "不太舒服", "不大舒服", "难受", "不太好", "帮帮我", "需要帮助")

OK_REPLY = "收到您的平安,谢谢您!祝您今天顺顺利利,有需要随时找我们。"
PING = "您{greeting}!{community}问候您:今天身体还好吗?\n回复 1 报平安,回复 2 需要帮助。"
REMINDER = (
    "您好,今天还没收到您的平安回复,身体还好吗?\n回复 1 报平安,回复 2 需要帮助。不方便打字的话,发条语音也行。"
)


@dataclass
class CheckInResult(Tally):
    """What one run of a check-in sweep did."""

    pinged: int = 0
    unreachable: int = 0
    skipped: int = 0
    reminded: int = 0
    silent_reminders: int = 0
    knocked: int = 0
    visited: int = 0
    call_lists: int = 0
    failed: int = 0


@dataclass(frozen=True)
class LocalMoment:
    """A moment as the community's clock shows it: the calendar day and minutes after midnight."""

    day: date
    minute: int


def local_moment(now: datetime, timezone: str) -> LocalMoment:
    """The local day and minute of an aware datetime."""
    local = now.astimezone(ZoneInfo(timezone))
    return LocalMoment(local.date(), local.hour * 60 + local.minute)


@dataclass(frozen=True)
class Timing:
    """The [checkins] settings in minutes, and what they say about a local minute."""

    reminder: int
    knock: int
    catch_up: int
    quiet_start: int
    quiet_end: int
    list_minute: int

    @classmethod
    def of(cls, settings: Settings) -> Timing:
        """Read the check-in settings."""
        checkins = settings.checkins
        return cls(
            reminder=checkins.reminder_after_minutes,
            knock=checkins.knock_after_minutes,
            catch_up=checkins.catch_up_hours * 60,
            quiet_start=minutes_after_midnight(checkins.quiet_start),
            quiet_end=minutes_after_midnight(checkins.quiet_end),
            list_minute=minutes_after_midnight(checkins.default_time),
        )

    @property
    def wraps(self) -> bool:
        """True when quiet hours run past midnight (21:00-07:00)."""
        return self.quiet_start > self.quiet_end

    def quiet(self, minute: int) -> bool:
        """True inside quiet hours; equal start and end mean there are none."""
        if self.wraps:
            return minute >= self.quiet_start or minute < self.quiet_end
        return self.quiet_start <= minute < self.quiet_end

    def quiet_until_tomorrow(self, minute: int) -> bool:
        """Inside the quiet stretch that ends after midnight: what is due now cannot go out today."""
        return self.wraps and minute >= self.quiet_start

    def night_minute(self) -> ColumnElement[bool]:
        """SQL: the resident's ping time falls in the quiet stretch that ends after midnight."""
        return Resident.checkin_minute >= self.quiet_start if self.wraps else false()


# The morning ping sweep: set-based, two statements whatever the register's size


def ping_sweep(
    factory: sessionmaker[Session], settings: Settings, now: datetime, *, after: datetime | None = None
) -> CheckInResult:
    """Record today's check-in of everyone due and queue their pings; `after`: see PingSweep.covered."""
    return _ping(factory, settings, now, after)[0]


@dataclass
class PingSweep:
    """The ping sweep of one scheduler process: between hourly full passes it reads only new ping times."""

    factory: sessionmaker[Session]
    settings: Settings
    # The last run that recorded every ping due until then (one transaction, so it holds for good):
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
    factory: sessionmaker[Session], settings: Settings, now: datetime, after: datetime | None
) -> tuple[CheckInResult, bool]:
    """The ping sweep, and whether it recorded every ping due by now (False: try again next minute)."""
    timing, local = Timing.of(settings), local_moment(now, settings.timezone)
    since = local_moment(after, settings.timezone).minute if after is not None else None
    due = _due_for_ping(timing, local, since)
    if due is None:
        return CheckInResult(), False
    with transaction(factory) as session:
        # This run's rows are those above the highest id before it, so two sweeps must not overlap
        # (on SQLite they cannot: one writer at a time).
        take_turns(session, PING_SWEEP_LOCK_KEY)
        before = session.scalar(select(func.max(CheckIn.id))) or 0
        on_postgresql = session.bind.dialect.name == "postgresql"
        if on_postgresql:
            # While check-ins looks empty (a new deployment), PostgreSQL plans the NOT EXISTS guard as
            # a scan of check-ins per resident, over the very pages this INSERT is adding: quadratic
            # (72 s at 100k elders). Probing the (resident, day) index instead is linear.
            session.execute(text("SET LOCAL enable_seqscan = off"))
        # SQLAlchemy keeps an INSERT's rowcount only when asked; psycopg's closed cursor may say -1.
        inserted = session.execute(
            _insert_checkins(timing, local, now, due), execution_options={"preserve_rowcount": True}
        ).rowcount
        if on_postgresql:
            session.execute(text("SET LOCAL enable_seqscan = on"))
        if not inserted:
            return CheckInResult(), True
        session.execute(_insert_pings(settings, local, now, before))
        return _counted(session, before), True


def _counted(session: Session, before: int) -> CheckInResult:
    """How many rows of each kind this run inserted (a range of ids, so no index-wide GROUP BY)."""
    counts = [
        func.count().filter(CheckIn.status == status) for status in ("pinged", "unreachable", "skipped")
    ]
    pinged, unreachable, skipped = session.execute(select(*counts).where(CheckIn.id > before)).one()
    return CheckInResult(pinged=pinged, unreachable=unreachable, skipped=skipped)


def _due_for_ping(timing: Timing, local: LocalMoment, since: int | None) -> ColumnElement[bool] | None:
    """Residents without today's row whose ping time has come (after `since`); None in morning quiet hours."""
    if timing.quiet(local.minute) and not timing.quiet_until_tomorrow(local.minute):
        return None  # pings due now wait for the end of quiet hours, then the catch-up rule decides
    minute = Resident.checkin_minute
    due = minute <= local.minute if since is None else minute.between(since + 1, local.minute)
    if local.minute >= timing.list_minute and (since is None or since < timing.list_minute):
        # Known in advance not to be pinged today: recorded now, so the worker's one call list has them.
        due = or_(due, _unreachable(), timing.night_minute())
    return and_(minute.is_not(None), due, ~_has_checkin(local.day))


def _status(timing: Timing, local: LocalMoment) -> ColumnElement[str]:
    """SQL: what today's new row records: unreachable, skipped (too late, or at night) or pinged."""
    late = Resident.checkin_minute < local.minute - timing.catch_up
    tonight = true() if timing.quiet_until_tomorrow(local.minute) else timing.night_minute()
    return case((_unreachable(), "unreachable"), (or_(late, tonight), "skipped"), else_="pinged")


def _insert_checkins(timing: Timing, local: LocalMoment, now: datetime, due: ColumnElement[bool]) -> Insert:
    """INSERT ... SELECT today's rows for the residents due, with NOT EXISTS as the portable guard."""
    status = _status(timing, local)
    pinged_at = case((status == "pinged", literal(now, UTCDateTime())), else_=null())
    rows = select(Resident.id, literal(local.day, Date()), status, pinged_at).where(due)
    return insert(CheckIn.__table__).from_select(["resident_id", "day", "status", "pinged_at"], rows)


def _insert_pings(settings: Settings, local: LocalMoment, now: datetime, before: int) -> Insert:
    """INSERT ... SELECT one outbox ping per row this run marked pinged."""
    text = ping_text(settings, local.minute)
    rows = _resident_pushes("checkin_ping", text, now).where(
        CheckIn.id > before, CheckIn.status == "pinged", CheckIn.pinged_at == now
    )
    return insert(OutboxMessage.__table__).from_select(PUSH_COLUMNS, rows)


PUSH_COLUMNS = (
    "kind",
    "channel",
    "recipient",
    "recipient_name",
    "resident_id",
    "text",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


def _resident_pushes(kind: str, text: str, now: datetime) -> Select:
    """SELECT outbox rows (PUSH_COLUMNS) addressed to the residents of the check-ins it is narrowed to."""
    at = literal(now, UTCDateTime())
    return select(
        literal(kind),
        literal("auto"),
        Resident.openid,
        func.coalesce(Resident.name, "居民"),
        Resident.id,
        literal(text),
        literal("pending"),
        literal(0),
        at,
        at,
    ).join_from(CheckIn, Resident, Resident.id == CheckIn.resident_id)


def ping_text(settings: Settings, minute: int) -> str:
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


def _unreachable() -> ColumnElement[bool]:
    """SQL: the resident cannot receive a push: not bound to WeChat yet, or unfollowed."""
    return or_(Resident.openid.startswith(PLACEHOLDER_PREFIX), not_(Resident.subscribed))


def _has_checkin(day: date) -> ColumnElement[bool]:
    """SQL: the resident already has a check-in row for the day (the unique index answers it)."""
    return exists().where(CheckIn.resident_id == Resident.id, CheckIn.day == day)


# Reminders: set-based too (a morning where many elders are slow to answer is normal)


def remind_sweep(factory: sessionmaker[Session], settings: Settings, now: datetime) -> CheckInResult:
    """One reminder per unanswered ping; none at night, when stale or unreachable (the knock clock runs)."""
    timing, local = Timing.of(settings), local_moment(now, settings.timezone)
    due = (CheckIn.status == "pinged", CheckIn.pinged_at <= now - timedelta(minutes=timing.reminder))
    stale = CheckIn.pinged_at < now - timedelta(minutes=timing.reminder + timing.catch_up)
    reachable = exists().where(Resident.id == CheckIn.resident_id, not_(_unreachable()))
    silent = true() if timing.quiet(local.minute) else or_(stale, ~reachable)
    with transaction(factory) as session:
        muted = _move(session, [*due, silent], status="reminded", reminded_at=None)
        sent = _move(session, due, status="reminded", reminded_at=now)
        if sent:
            rows = _resident_pushes("checkin_reminder", REMINDER, now).where(
                CheckIn.status == "reminded", CheckIn.reminded_at == now
            )
            session.execute(insert(OutboxMessage.__table__).from_select(PUSH_COLUMNS, rows))
    return CheckInResult(reminded=sent, silent_reminders=muted)


def _move(session: Session, conditions: Iterable[ColumnElement[bool]], **values: object) -> int:
    """UPDATE the check-ins that still meet the conditions; the row count says how many this run won."""
    statement = update(CheckIn.__table__).where(*conditions).values(**values)
    return session.execute(statement).rowcount


# Missed check-ins: a 敲门 task per elder, few rows, one transaction each


def knock_sweep(
    factory: sessionmaker[Session], settings: Settings, classifier: IntentClassifier, now: datetime
) -> CheckInResult:
    """Open a 敲门 task for each check-in unanswered after the reminder; report settled ones to the family."""
    result = CheckInResult()
    steps: tuple[tuple[Select, Callable[[Services, int], str | None]], ...] = (
        (select(CheckIn.id).where(*_knock_due(settings, now)), _knock),
        (select(CheckIn.id).where(*_visit_done()), _report_visit),
    )
    for query, act in steps:
        for checkin_id in _ids(factory, query):
            counted = _in_own_transaction(factory, settings, classifier, now, act, checkin_id)
            if counted is not None:
                setattr(result, counted, getattr(result, counted) + 1)
    return result


def _knock_due(settings: Settings, now: datetime) -> list[ColumnElement[bool]]:
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


def _ids(factory: sessionmaker[Session], query: Select) -> list[int]:
    """The check-in ids a query finds due, in a short read of its own."""
    with transaction(factory) as session:
        return list(session.scalars(query.order_by(CheckIn.id)))


def _in_own_transaction(
    factory: sessionmaker[Session],
    settings: Settings,
    classifier: IntentClassifier,
    now: datetime,
    act: Callable[[Services, int], str | None],
    checkin_id: int,
) -> str | None:
    """Run one step for one check-in; a failure is logged and counted, and the others still run."""
    try:
        with transaction(factory) as session:
            return act(Services(session, settings, classifier, now), checkin_id)
    except Exception:
        # One broken row must not keep the next elder's knock task from opening.
        log.exception("check-in sweep (%s) failed on check-in %s", act.__name__, checkin_id)
        return "failed"


def _knock(services: Services, checkin_id: int) -> str | None:
    """Claim the check-in, open the knock ticket for the grid worker, and tell the family."""
    due = [CheckIn.id == checkin_id, *_knock_due(services.settings, services.now)]
    claimed = _move(services.session, due, status="missed", missed_at=services.now)
    if not claimed:
        return None
    checkin = services.session.get_one(CheckIn, checkin_id)
    resident = services.session.get_one(Resident, checkin.resident_id)
    summary = _knock_summary(services, resident, checkin)
    ticket = open_ticket(services, resident, "knock", summary, actor="系统")
    checkin.ticket_id = ticket.id
    night = _night(services)
    if night:
        _mark_night(services.session, ticket.id)
    for contact in resident.family:
        text = _family_alert(services, resident, checkin, ticket, night)
        _push_family(services, _family_address(contact), contact.name, ticket.id, "family_alert", text)
    log.info("knock task #%s opened for resident %s", ticket.id, resident.id)
    return "knocked"


def _knock_summary(services: Services, resident: Resident, checkin: CheckIn) -> str:
    """What the worker reads on the knock ticket: which day, what went unanswered, how to reach the elder."""
    asked = f"{_clock(services, checkin.pinged_at)}的问候"
    if checkin.reminded_at is not None:
        asked += f"和{_clock(services, checkin.reminded_at)}的提醒都"
    parts = [
        f"{_day_label(services, checkin.day)}未报平安:{asked}没有回复。",
        f"电话 {resident.phone or '未登记'},住址 {resident.address or '未登记'}。",
    ]
    if resident.family:
        family = "、".join(f"{c.name}({c.relation or '家属'}){c.phone or ''}" for c in resident.family)
        parts.append(f"家属:{family}。")
    parts.append("请先打电话,联系不上请立即上门敲门查看。")
    return "".join(parts)


def _family_alert(
    services: Services, resident: Resident, checkin: CheckIn, ticket: Ticket, night: bool
) -> str:
    """The family's alert: who was not heard from, since when, and who is on the way."""
    who = assignee_phrase(ticket, with_phone=True) if ticket.assignee else "社区工作人员"
    when = f"{_day_label(services, checkin.day)}{_clock(services, checkin.pinged_at)}"
    return (
        f"{NIGHT if night else ''}【平安提醒】您的家人{resident.name or ''}{when}的平安问候至今没有回复。"
        f"社区已请{who}上门看看,有消息会马上告诉您。方便的话,也请您给老人打个电话。"
    )


def _report_visit(services: Services, checkin_id: int) -> str | None:
    """The worker settled the knock ticket: the family hears the outcome in the worker's words."""
    claimed = _move(services.session, [CheckIn.id == checkin_id, *_visit_done()], status="visited")
    if not claimed:
        return None
    checkin = services.session.get_one(CheckIn, checkin_id)
    ticket = services.session.get_one(Ticket, checkin.ticket_id)
    resident = ticket.resident
    who = assignee_phrase(ticket, with_phone=True)
    note = _last_note(services.session, ticket.id)
    # Neutral on purpose: a resolved task does not mean all is well (the note may say 已送医).
    text = (
        f"【敲门结果】您的家人{resident.name or ''}{_day_label(services, checkin.day)}未报平安,"
        f"{who}已上门处理" + (f":{_sentence(note)}" if note else "。") + "如有疑问请直接联系网格员。"
    )
    for recipient, name in _alerted_family(services.session, ticket.id):
        _push_family(services, recipient, name, ticket.id, "family_visit_result", text)
    return "visited"


def _sentence(note: str) -> str:
    """A worker's note ending in exactly one full stop."""
    return note.rstrip("。.!!") + "。"  # noqa: B005 (a set of end marks, not a suffix)


def _last_note(session: Session, ticket_id: int) -> str | None:
    """The note of the last 办结 or 取消, if one was given."""
    query = (
        select(TicketEvent.note)
        .where(
            TicketEvent.ticket_id == ticket_id,
            TicketEvent.kind.in_(("resolve", "cancel")),
            TicketEvent.note.is_not(None),
        )
        .order_by(TicketEvent.id.desc())
    )
    return session.scalars(query).first()


# The daily call list: residents nobody could ping today, one push per worker


def call_list_sweep(factory: sessionmaker[Session], settings: Settings, now: datetime) -> CheckInResult:
    """From the default check-in time on, push each worker the residents to phone today, each listed once."""
    timing, local = Timing.of(settings), local_moment(now, settings.timezone)
    if local.minute < timing.list_minute:
        return CheckInResult()
    try:
        with transaction(factory) as session:
            groups = _call_groups(session, local.day)
            sent = 0
            for worker, entries in groups:
                if not _claim(session, [checkin.id for checkin, _ in entries], now):
                    raise _Raced
                if worker is None:
                    log.warning("call list: %s residents and nobody on duty to phone them", len(entries))
                    continue
                text = _call_list_text(timing, local, entries, night=timing.quiet(local.minute))
                queue_push(session, now, worker=worker, kind="checkin_call_list", text=text)
                sent += 1
    except _Raced:
        log.info("call list: another process is sending today's lists")
        return CheckInResult()
    return CheckInResult(call_lists=sent)


class _Raced(Exception):
    """Another process listed some of these check-ins first; roll back and let it finish."""


Entry = tuple[CheckIn, Resident]


def _call_groups(session: Session, day: date) -> list[tuple[Worker | None, list[Entry]]]:
    """Today's unlisted unreachable and skipped check-ins, grouped by who looks after the resident."""
    query = (
        select(CheckIn, Resident)
        .join(Resident, Resident.id == CheckIn.resident_id)
        .where(CheckIn.day == day, CheckIn.status.in_(CALL_LIST), CheckIn.missed_at.is_(None))
        .options(selectinload(Resident.building).selectinload(Building.grid))
        .order_by(Resident.building_id, Resident.unit, Resident.room, Resident.id)
    )
    desk = community_desk(session)
    groups: dict[int | None, tuple[Worker | None, list[Entry]]] = {}
    for checkin, resident in session.execute(query):
        grid = resident.building.grid if resident.building else None
        worker = choose_assignee(desk, grid).worker
        groups.setdefault(worker.id if worker else None, (worker, []))[1].append((checkin, resident))
    return list(groups.values())


def _claim(session: Session, ids: Sequence[int], now: datetime) -> bool:
    """Mark check-ins as listed (missed_at); False when another process listed any of them first."""
    claimed = 0
    for start in range(0, len(ids), CLAIM_CHUNK):
        chunk = ids[start : start + CLAIM_CHUNK]
        claimed += _move(session, [CheckIn.id.in_(chunk), CheckIn.missed_at.is_(None)], missed_at=now)
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
        return "未绑定微信" if resident.openid.startswith(PLACEHOLDER_PREFIX) else "已取消关注公众号"
    minute = resident.checkin_minute
    if minute is not None and timing.wraps and minute >= timing.quiet_start:
        return "问候时间在夜间"
    return "系统故障,问候未按时发出"


# The router hook: a message from the resident is today's check-in


def note_checkin(services: Services, resident: Resident, incoming: Incoming) -> Reply | None:
    """Count the message as today's check-in; a Reply when it was only the answer (1, 好, 2 ...)."""
    if resident.id is None or not _sign_of_life(incoming):
        return None
    day = local_moment(services.now, services.settings.timezone).day
    query = select(CheckIn).where(CheckIn.resident_id == resident.id, CheckIn.day == day)
    with services.session.no_autoflush:  # the resident's pending "last heard from" stamp can wait
        checkin = services.session.scalar(query)
    if checkin is None:
        return None
    text = incoming.text or ""
    reading = _reading(services, resident, checkin, text)
    if checkin.answered_at is None:
        checkin.answered_at, checkin.answer = services.now, (text or f"[{incoming.msg_type}]")[:200]
    if checkin.status == "missed":
        return _after_knock(services, resident, checkin, reading, incoming)
    return _answer(services, resident, checkin, reading, text)


def _sign_of_life(incoming: Incoming) -> bool:
    """Anything the person sent or tapped themselves."""
    return incoming.msg_type != "event" or (incoming.event or "").lower() in PROOF_EVENTS


def _reading(services: Services, resident: Resident, checkin: CheckIn, text: str) -> str:
    """'emergency', 'ok', 'help' or 'other': what the message says about the elder today."""
    if not text:
        return "other"
    category = services.classifier.classify(text).category
    if category == "emergency":
        return "emergency"
    if not _answers_checkin(services, resident, checkin):
        return "other"
    normalized = normalize(text)
    if normalized in OK_ANSWERS:
        return "ok"
    if normalized in HELP_ANSWERS:
        return "help"
    if category not in ("other", "health") or pending_category(services, resident):
        return "other"  # a request of its own kind (medicine, repair, after a menu tap): answered, routed on
    unwell = any(marker in normalized for marker in HELP_MARKERS)
    return "help" if unwell or category == "health" else "other"


def _answers_checkin(services: Services, resident: Resident, checkin: CheckIn) -> bool:
    """The check-in is the prompt sent last; a later rating request (also answered with 1 or 2) wins."""
    prompts = [moment for moment in (checkin.pinged_at, checkin.reminded_at) if moment is not None]
    if not prompts:
        return False
    rated = awaiting_rating(services, resident)
    asked = rated.rating_requested_at if rated is not None else None
    return asked is None or asked <= max(prompts)


def _answer(
    services: Services, resident: Resident, checkin: CheckIn, reading: str, text: str
) -> Reply | None:
    """No knock task yet: record the answer; reply to 1 and 2 ourselves, route everything else."""
    if reading in ("help", "emergency"):
        checkin.status = "help"
    elif checkin.status in OPEN_ROWS:
        checkin.status = "answered"
    if reading == "ok":
        return Reply(OK_REPLY)
    if reading == "help":
        return _ask_for_help(services, resident, checkin, text)
    return None


def _ask_for_help(services: Services, resident: Resident, checkin: CheckIn, text: str) -> Reply:
    """A health ticket for the grid worker at once (or the one already open), linked to the check-in."""
    summary = f"独居老人回复平安问候“{text}”,需要帮助,请尽快联系。"
    reply = handle_request(services, resident, "health", summary, message_id=services.message_id)
    checkin.ticket_id = checkin.ticket_id or reply.ticket_id
    return reply


def _after_knock(
    services: Services, resident: Resident, checkin: CheckIn, reading: str, incoming: Incoming
) -> Reply | None:
    """A knock task is out: only "I'm fine" calls it off; anything else is passed to whoever holds it."""
    ticket = services.session.get(Ticket, checkin.ticket_id) if checkin.ticket_id else None
    knocking = ticket is not None and ticket.status in OPEN_STATUSES
    if reading == "ok":
        checkin.status = "answered"
        return _all_clear(services, resident, checkin, ticket if knocking else None)
    if not knocking:
        return _answer(services, resident, checkin, reading, incoming.text or "")
    if reading != "emergency" and services.message_id is not None:
        attach_message(services, ticket, services.message_id, f"发来消息:{_what(incoming)}")
    if reading == "help":
        return Reply(
            f"收到。{assignee_phrase(ticket, with_phone=True)}正在赶来看您,请稍等。"
            f"如果情况紧急,请马上拨打120。工单号 #{ticket.id}。",
            ticket.id,
        )
    return None


def _what(incoming: Incoming) -> str:
    """What the elder sent, as the worker's follow-up push describes it."""
    if incoming.text:
        return f"“{incoming.text}”"
    return {"voice": "一条语音", "image": "一张图片", "location": "一个位置"}.get(
        incoming.msg_type, "一条消息"
    )


def _all_clear(services: Services, resident: Resident, checkin: CheckIn, ticket: Ticket | None) -> Reply:
    """A late "I'm fine": the knock task ends, and everyone who was alerted hears it."""
    when = _clock(services, services.now)
    name = resident.name or "居民"
    lines = ["收到您的平安,太好了!"]
    if ticket is not None:
        workers = _alerted_workers(services.session, ticket)
        _settle_knock(services, ticket)
        text = f"【已报平安】工单 #{ticket.id}:{name}{when}回复了平安问候,敲门任务已解除。辛苦了!"
        for worker in workers:
            tell_worker(services, worker, ticket, text, "checkin_all_clear")
        lines.append(f"刚才没联系上您,{assignee_phrase(ticket)}正准备上门看看您,我们已经转告了。")
    family = _alerted_family(services.session, checkin.ticket_id) if checkin.ticket_id else []
    for recipient, contact_name in family:
        text = f"【平安】您的家人{name}{when}已回复报平安,请放心。谢谢您的关心!"
        _push_family(services, recipient, contact_name, checkin.ticket_id, "family_all_clear", text)
    if family:
        lines.append("您的家人也会收到您报平安的消息。")
    lines.append("祝您身体健康,有需要随时找我们。")
    return Reply("".join(lines), ticket.id if ticket else None)


def _settle_knock(services: Services, ticket: Ticket) -> None:
    """Resolve and close the knock ticket (no rating asked: nobody was served), or cancel it if unheld."""
    note = "老人已回复报平安,敲门任务解除"
    if ticket.status not in WORKING:
        apply(services, ticket, "cancel", SYSTEM, note)
        return
    signed = ticket.acknowledged_at
    apply(services, ticket, "resolve", SYSTEM, note)
    # Resolving counts as signing; the elder's own answer must not count as the worker's response.
    ticket.acknowledged_at = signed
    apply(services, ticket, "close", SYSTEM, "无需回访")


def _alerted_workers(session: Session, ticket: Ticket) -> list[Worker]:
    """Everyone pushed about this ticket so far (assignee, backup, leader ...), and whoever holds it."""
    paged = select(OutboxMessage.worker_id).where(
        OutboxMessage.ticket_id == ticket.id, OutboxMessage.worker_id.is_not(None)
    )
    workers = list(session.scalars(select(Worker).where(Worker.id.in_(paged)).order_by(Worker.id)))
    if ticket.assignee is not None and ticket.assignee not in workers:
        workers.append(ticket.assignee)
    return workers


# Family contacts are not residents: their pushes are written here, in one place


def _family_address(contact: FamilyContact) -> str:
    """Their openid, or a placeholder a later channel (SMS) can resolve from the contact's id."""
    return contact.openid or f"family:{contact.id}"


def _push_family(
    services: Services, recipient: str, name: str, ticket_id: int | None, kind: str, text: str
) -> None:
    """Queue one push to a family contact."""
    services.session.add(
        OutboxMessage(
            kind=kind,
            recipient=recipient,
            recipient_name=name[:50],
            ticket_id=ticket_id,
            message_id=services.message_id,
            text=text,
            next_attempt_at=services.now,
            created_at=services.now,
        )
    )


def _alerted_family(session: Session, ticket_id: int) -> list[tuple[str, str]]:
    """(recipient, name) of each family contact alerted about this knock ticket."""
    query = (
        select(OutboxMessage.recipient, OutboxMessage.recipient_name)
        .where(OutboxMessage.ticket_id == ticket_id, OutboxMessage.kind == "family_alert")
        .distinct()
        .order_by(OutboxMessage.recipient)
    )
    return list(session.execute(query))


# Shared pieces


def _night(services: Services) -> bool:
    """True during quiet hours: alerts to staff and family then say so."""
    minute = local_moment(services.now, services.settings.timezone).minute
    return Timing.of(services.settings).quiet(minute)


def _mark_night(session: Session, ticket_id: int) -> None:
    """Prefix the pushes just queued for a ticket with the night marker."""
    for row in session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket_id)):
        row.text = NIGHT + row.text


def _clock(services: Services, moment: datetime | None) -> str:
    """'09:00' in local time."""
    if moment is None:
        return "--:--"
    return f"{moment.astimezone(ZoneInfo(services.settings.timezone)):%H:%M}"


def _day_label(services: Services, day: date) -> str:
    """'今天', '昨天' or '11月21日', as seen from now."""
    today = local_moment(services.now, services.settings.timezone).day
    if day == today:
        return "今天"
    if day == today - timedelta(days=1):
        return "昨天"
    return f"{day.month}月{day.day}日"
