"""The daily check-in sweeps, by moving the clock: pings, one reminder, 敲门 tasks, call lists, catch-up."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.messenger import ConsoleMessenger
from bot.scheduler import build_scheduler
from config.settings import Settings, SubscriptionSettings
from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins import (
    CheckInResult,
    PingSweep,
    call_list_sweep,
    knock_sweep,
    knocks,
    ping_sweep,
    pings,
    remind_sweep,
)
from handlers.jobs.escalation import sweep as deadline_sweep
from handlers.language.intents import IntentClassifier
from storage.db import snapshot, transaction
from storage.models import Building, CheckIn, OutboxMessage, Resident, SubscriptionConsent
from tests.conftest import pushes, tickets
from tests.support import FakeClock

ZHANG, SUN, LIU = "demo-resident-zhang", "demo-resident-sun", "demo-resident-liu"
ZHANGWEI = "demo-family-zhangwei"  # 张秀兰's son
WANG, LI, DUTY = "demo-worker-wang", "demo-worker-li", "demo-community-duty"
LOCAL = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(2026, 11, 23)  # the FakeClock starts at 10:00 local on this day
# The account's subscription message for the ping (test_ping_channels.py covers the other channels).
CHECKIN_SUBSCRIPTION = SubscriptionSettings("sub-checkin", ("thing1", "time2", "thing3"))


def with_ping_subscription(settings: Settings) -> Settings:
    """The settings with the check-in's long-term subscription message set up."""
    return replace(settings, subscriptions=CHECKIN_SUBSCRIPTION)


def everyone_subscribed(factory: sessionmaker[Session], now: datetime) -> None:
    """Every resident so far accepted the ping's subscription message: pings reach them however long they
    stay silent (without it, an elder silent for 48 hours is on the call list instead)."""
    with transaction(factory) as session:
        have = set(session.scalars(select(SubscriptionConsent.openid)))
        session.add_all(
            SubscriptionConsent(
                openid=openid,
                template_id=CHECKIN_SUBSCRIPTION.checkin_template_id,
                status="accept",
                changed_at=now,
            )
            for openid in session.scalars(select(Resident.openid))
            if openid not in have
        )


@dataclass
class CheckInDesk:
    """The check-in sweeps over the demo community, run at whatever local time the test moves to."""

    factory: sessionmaker[Session]
    settings: Settings
    classifier: IntentClassifier
    clock: FakeClock
    seen: int = 0

    def __post_init__(self) -> None:
        self.settings = with_ping_subscription(self.settings)
        everyone_subscribed(self.factory, self.clock())

    @property
    def domain(self) -> DomainSettings:
        """What the sweeps read of the settings."""
        return DomainSettings.of(self.settings)

    def at(self, clock_time: str, day: int = 0) -> None:
        """Move the clock forward to a local time, `day` days after the first day."""
        hours, minutes = map(int, clock_time.split(":"))
        local = datetime.combine(FIRST_DAY + timedelta(days=day), time(hours, minutes), tzinfo=LOCAL)
        target = local.astimezone(UTC)
        assert target >= self.clock.now, "tests only move the clock forward"
        self.clock.advance(seconds=(target - self.clock.now).total_seconds())

    def pings(self) -> CheckInResult:
        """The ping sweep and the call lists, as the scheduler runs them (every elder subscribed)."""
        everyone_subscribed(self.factory, self.clock())
        result = ping_sweep(self.factory, self.domain, self.clock())
        listed = call_list_sweep(self.factory, self.domain, self.clock())
        result.call_lists = listed.call_lists
        return result

    def reminders(self) -> CheckInResult:
        """The reminder sweep."""
        everyone_subscribed(self.factory, self.clock())
        return remind_sweep(self.factory, self.domain, self.clock())

    def knocks(self) -> CheckInResult:
        """The missed check-in sweep; nothing may fail."""
        result = knock_sweep(self.factory, self.domain, self.classifier, self.clock())
        assert result.failed == 0
        return result

    def all_sweeps(self) -> int:
        """Every check-in sweep once; how much they did."""
        return self.pings().total + self.reminders().total + self.knocks().total

    def new_pushes(self) -> list[OutboxMessage]:
        """Pushes queued since the last call."""
        found = pushes(self.factory)
        fresh, self.seen = found[self.seen :], len(found)
        return fresh

    def checkin(self, openid: str, day: int = 0) -> CheckIn | None:
        """A resident's check-in row for a day."""
        with transaction(self.factory) as session:
            query = (
                select(CheckIn)
                .join(Resident, Resident.id == CheckIn.resident_id)
                .where(Resident.openid == openid, CheckIn.day == FIRST_DAY + timedelta(days=day))
            )
            return session.scalars(query).one_or_none()

    def set_resident(self, openid: str, **values: object) -> None:
        """Change a resident in the register."""
        with transaction(self.factory) as session:
            resident = session.scalars(select(Resident).where(Resident.openid == openid)).one()
            for name, value in values.items():
                setattr(resident, name, value)

    def sliced(self, size: int) -> CheckInDesk:
        """The same desk with sweeps that commit `size` elders at a time."""
        checkins = replace(self.settings.checkins, sweep_slice_size=size)
        return replace(self, settings=replace(self.settings, checkins=checkins))

    def add_elders(self, count: int) -> None:
        """Register `count` more elders pinged at 09:00 in 1号楼, o-elder-0 onwards, in one transaction."""
        with transaction(self.factory) as session:
            home = session.scalars(select(Building).where(Building.name == "1号楼")).one()
            session.add_all(
                Resident(
                    openid=f"o-elder-{number}",
                    building=home,
                    room="101",
                    lives_alone=True,
                    checkin_minute=540,
                    created_at=self.clock(),
                )
                for number in range(count)
            )
        everyone_subscribed(self.factory, self.clock())

    def count_checkins(self) -> int:
        """Check-in rows of every day (read without waiting for a sweep's write lock)."""
        with snapshot(self.factory) as session:
            return session.scalar(select(func.count()).select_from(CheckIn)) or 0

    def add_resident(self, openid: str, building: str | None, minute: int = 540, **values: object) -> None:
        """Register another elder in the check-in population."""
        with transaction(self.factory) as session:
            home = (
                session.scalars(select(Building).where(Building.name == building)).one() if building else None
            )
            session.add(
                Resident(
                    openid=openid,
                    building=home,
                    room="101",
                    lives_alone=True,
                    checkin_minute=minute,
                    created_at=self.clock(),
                    **values,
                )
            )
        everyone_subscribed(self.factory, self.clock())


@pytest.fixture
def desk(factory, settings, classifier, clock) -> CheckInDesk:
    """The check-in sweeps over the demo community."""
    return CheckInDesk(factory, settings, classifier, clock)


def by_recipient(sent: list[OutboxMessage]) -> dict[str, list[OutboxMessage]]:
    """Pushes grouped by who receives them."""
    grouped: dict[str, list[OutboxMessage]] = {}
    for push in sent:
        grouped.setdefault(push.recipient, []).append(push)
    return grouped


def test_every_elder_is_pinged_once_at_their_own_time(desk) -> None:
    desk.set_resident(SUN, checkin_minute=9 * 60 + 30)
    desk.at("08:59", day=1)
    assert desk.pings().total == 0
    desk.at("09:00", day=1)
    assert desk.pings().pinged == 1
    [ping] = desk.new_pushes()
    assert (ping.recipient, ping.kind, ping.status) == (ZHANG, "checkin_ping", "pending")
    assert ping.text == "您早上好!幸福里社区问候您:今天身体还好吗?\n回复 1 报平安,回复 2 需要帮助。"
    assert desk.pings().total == 0
    desk.at("09:30", day=1)
    assert desk.pings().pinged == 1
    assert [p.recipient for p in desk.new_pushes()] == [SUN]
    assert desk.checkin(LIU, day=1) is None  # not in the check-in population
    row = desk.checkin(ZHANG, day=1)
    assert (row.status, row.pinged_at) == ("pinged", datetime(2026, 11, 24, 1, 0, tzinfo=UTC))


def test_silence_brings_one_reminder_then_a_knock_task_and_the_family_is_told(desk) -> None:
    desk.at("09:00", day=1)
    desk.pings()
    desk.new_pushes()
    desk.at("10:59", day=1)
    assert desk.reminders().total == 0
    desk.at("11:00", day=1)
    assert desk.reminders().reminded == 2
    reminders = desk.new_pushes()
    assert {p.recipient for p in reminders} == {ZHANG, SUN}
    assert all(p.kind == "checkin_reminder" and "还没收到您的平安回复" in p.text for p in reminders)
    assert desk.reminders().total == 0 and desk.new_pushes() == []

    desk.at("12:59", day=1)
    assert desk.knocks().total == 0
    desk.at("13:00", day=1)
    assert desk.knocks().knocked == 2
    sent = by_recipient(desk.new_pushes())
    [task] = sent[WANG]
    assert task.kind == "new_ticket" and task.text.startswith("【新工单 · 敲门探访】 #1")
    for detail in ("今天未报平安", "09:00的问候和11:00的提醒都没有回复", "电话 13800000101", "3号楼2单元301"):
        assert detail in task.text
    assert "张伟(儿子)13800000201" in task.text and "签收 1" in task.text
    [alert] = sent[ZHANGWEI]
    assert (alert.kind, alert.recipient_name, alert.ticket_id) == ("family_alert", "张伟", 1)
    assert "您的家人张秀兰今天09:00的平安问候至今没有回复" in alert.text
    assert "网格员王芳(电话 13900000002)上门看看" in alert.text
    [backup_task] = sent[LI]  # 孙桂英's worker 陈静 is off duty: her AB岗 李骁; 孙桂英 has no family
    assert "陈静不在岗,由您AB岗代办" in backup_task.text
    assert set(sent) == {WANG, ZHANGWEI, LI}
    knock = next(t for t in tickets(desk.factory) if t.id == 1)
    assert (knock.category, knock.status, knock.assignee.openid) == ("knock", "assigned", WANG)
    assert knock.ack_due_at == desk.clock() + timedelta(minutes=30)
    row = desk.checkin(ZHANG, day=1)
    assert (row.status, row.ticket_id, row.missed_at) == ("missed", 1, desk.clock())
    assert desk.knocks().total == 0 and desk.new_pushes() == []


def test_an_unsigned_knock_task_climbs_the_ladder_like_any_ticket(desk) -> None:
    desk.at("09:00", day=1)
    desk.pings()
    desk.at("11:00", day=1)
    desk.reminders()
    desk.at("13:00", day=1)
    desk.knocks()
    desk.new_pushes()
    desk.clock.advance(minutes=30)
    result = deadline_sweep(desk.factory, desk.domain, desk.classifier, desk.clock())
    assert result.escalated == 2
    escalations = [p for p in desk.new_pushes() if p.ticket_id == 1]
    assert [(p.recipient, p.kind) for p in escalations] == [(LI, "escalation")]
    assert escalations[0].text.startswith("【升级督办 · 敲门探访】 #1")


def test_a_morning_ping_time_inside_quiet_hours_waits_for_them_to_end(desk) -> None:
    desk.set_resident(ZHANG, checkin_minute=6 * 60)
    desk.at("06:00", day=1)
    assert desk.pings().total == 0
    desk.at("06:59", day=1)
    assert desk.pings().total == 0
    desk.at("07:00", day=1)
    assert desk.pings().pinged == 1
    [ping] = desk.new_pushes()
    assert ping.recipient == ZHANG and ping.text.startswith("您早上好!")


def test_a_ping_time_late_at_night_is_never_sent_and_goes_on_the_call_list(desk) -> None:
    desk.set_resident(ZHANG, checkin_minute=22 * 60)
    desk.at("09:00", day=1)
    result = desk.pings()
    assert (result.pinged, result.skipped, result.call_lists) == (1, 1, 1)  # 孙桂英 is pinged as usual
    sent = by_recipient(desk.new_pushes())
    [call_list] = sent[WANG]
    assert call_list.kind == "checkin_call_list"
    assert "1. 张秀兰 13800000101 · 3号楼2单元301 · 问候时间在夜间" in call_list.text
    assert ZHANG not in sent
    desk.at("22:00", day=1)
    assert desk.pings().total == 0
    assert desk.new_pushes() == []
    assert desk.checkin(ZHANG, day=1).status == "skipped"


def test_a_reminder_due_at_night_is_not_sent_but_the_worker_still_hears_marked_as_night(desk) -> None:
    desk.set_resident(ZHANG, checkin_minute=20 * 60)
    desk.set_resident(SUN, checkin_minute=None)
    desk.at("20:00", day=1)
    assert desk.pings().pinged == 1
    desk.new_pushes()
    desk.at("22:00", day=1)
    assert desk.reminders().silent_reminders == 1
    assert desk.new_pushes() == []  # nothing to the elder at night
    assert desk.checkin(ZHANG, day=1).reminded_at is None
    desk.at("23:59", day=1)
    assert desk.knocks().total == 0
    desk.at("00:00", day=2)
    assert desk.knocks().knocked == 1
    sent = by_recipient(desk.new_pushes())
    [task] = sent[WANG]
    assert task.text.startswith("(夜间提醒)【新工单 · 敲门探访】")
    assert "昨天未报平安:20:00的问候没有回复" in task.text
    [alert] = sent[ZHANGWEI]
    assert alert.text.startswith("(夜间提醒)【平安提醒】您的家人张秀兰昨天20:00的平安问候")
    assert set(sent) == {WANG, ZHANGWEI}


def test_unreachable_elders_are_listed_for_their_worker_once_a_day(desk) -> None:
    desk.add_resident("register:8f3a", "2号楼", name="周淑芬", phone="13800000301", minute=7 * 60 + 30)
    desk.add_resident("o-gone", "1号楼", name="吴国强", phone="13800000302", subscribed=False)
    desk.add_resident("register:77b1", None, name="郑桂花")  # not bound to a building: the duty desk
    desk.at("08:00", day=1)
    assert desk.pings().total == 1  # 周淑芬's row is recorded at 07:30, listed at the default time
    assert desk.new_pushes() == []
    desk.at("09:00", day=1)
    result = desk.pings()
    assert (result.pinged, result.unreachable, result.call_lists) == (2, 2, 2)
    sent = by_recipient(desk.new_pushes())
    [wang_list] = sent[WANG]
    assert wang_list.text.splitlines() == [
        "【电话问候名单 · 11月24日】",
        "以下2位老人今天收不到平安问候,请打电话问声平安,联系不上请上门看看:",
        "1. 吴国强 13800000302 · 1号楼101 · 已取消关注公众号",
        "2. 周淑芬 13800000301 · 2号楼101 · 未绑定微信",
    ]
    [desk_list] = sent[DUTY]
    assert "1. 郑桂花 无电话 · 未登记住址 · 未绑定微信" in desk_list.text
    assert {ZHANG, SUN} <= set(sent) and "register:8f3a" not in sent and "o-gone" not in sent
    for hour in ("09:01", "12:00", "18:00"):
        desk.at(hour, day=1)
        assert desk.pings().call_lists == 0
    assert [p for p in desk.new_pushes() if p.kind == "checkin_call_list"] == []
    desk.at("09:00", day=2)
    assert desk.pings().call_lists == 2
    assert desk.checkin("o-gone", day=1).status == "unreachable"


def test_two_schedulers_sending_call_lists_at_once_send_each_list_once(desk) -> None:
    desk = desk.sliced(1)  # a transaction per list: the two runs interleave
    for number in range(3):
        desk.add_resident(f"register:1{number}", "1号楼", name=f"王{number}")
        desk.add_resident(f"register:5{number}", "5号楼", name=f"李{number}")
        desk.add_resident(f"register:0{number}", None, name=f"赵{number}")
    desk.at("09:00", day=1)
    assert ping_sweep(desk.factory, desk.domain, desk.clock()).unreachable == 9
    start = threading.Barrier(2)
    results: list[CheckInResult] = []

    def run() -> None:
        start.wait()
        results.append(call_list_sweep(desk.factory, desk.domain, desk.clock()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(r.call_lists for r in results) == 3
    lists = [p for p in desk.new_pushes() if p.kind == "checkin_call_list"]
    assert sorted(p.recipient for p in lists) == sorted([WANG, LI, DUTY])
    listed = [line.split()[1] for p in lists for line in p.text.splitlines() if line[0].isdigit()]
    assert sorted(listed) == sorted(f"{name}{n}" for name in "王李赵" for n in range(3))


def test_after_downtime_stale_pings_are_skipped_and_listed_not_sent(desk) -> None:
    desk.at("13:01", day=1)  # down since before 09:00: the pings are more than 4 hours late
    result = desk.pings()
    assert (result.pinged, result.skipped, result.call_lists) == (0, 2, 2)
    sent = desk.new_pushes()
    assert [p.kind for p in sent] == ["checkin_call_list", "checkin_call_list"]
    assert {p.recipient for p in sent} == {WANG, LI}
    assert all("系统故障,问候未按时发出" in p.text for p in sent)
    assert desk.reminders().total == 0 and desk.knocks().total == 0


def test_pings_still_in_the_catch_up_window_go_out_late(desk) -> None:
    assert desk.pings().pinged == 2  # the clock starts at 10:00: an hour late is still worth a ping
    assert {p.recipient for p in desk.new_pushes()} == {ZHANG, SUN}


def test_downtime_ending_at_night_sends_nothing_to_residents(desk) -> None:
    desk.set_resident(ZHANG, checkin_minute=18 * 60)
    desk.set_resident(SUN, checkin_minute=20 * 60 + 30)
    desk.at("21:30", day=1)  # 18:00 is within the catch-up window, but it is night now
    result = desk.pings()
    assert (result.pinged, result.skipped) == (0, 2)
    sent = desk.new_pushes()
    assert {p.recipient for p in sent} == {WANG, LI}
    assert all(p.text.startswith("(夜间提醒)【电话问候名单") for p in sent)


def test_every_sweep_run_twice_at_the_same_moment_acts_once(desk) -> None:
    desk.add_resident("register:1", "1号楼", name="冯秀英")
    desk.at("09:00", day=1)
    assert desk.pings().total == 4  # two pings, one unreachable row, one call list
    assert desk.pings().total == 0
    desk.at("11:00", day=1)
    assert desk.reminders().reminded == 2
    assert desk.reminders().total == 0
    desk.at("13:00", day=1)
    assert desk.knocks().knocked == 2
    assert desk.knocks().total == 0
    kinds = Counter(p.kind for p in desk.new_pushes())
    assert kinds == {
        "checkin_ping": 2,
        "checkin_call_list": 1,
        "checkin_reminder": 2,
        "new_ticket": 2,
        "family_alert": 1,
    }
    assert len(tickets(desk.factory)) == 2


def test_two_schedulers_pinging_at_once_send_each_elder_exactly_one_ping(desk) -> None:
    desk = desk.sliced(7)  # their slices interleave
    desk.add_elders(60)
    desk.at("09:00", day=1)
    start = threading.Barrier(2)
    results: list[CheckInResult] = []

    def run() -> None:
        start.wait()
        results.append(ping_sweep(desk.factory, desk.domain, desk.clock()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(r.pinged for r in results) == 62
    per_elder = Counter(p.recipient for p in desk.new_pushes() if p.kind == "checkin_ping")
    assert len(per_elder) == 62 and set(per_elder.values()) == {1}


def test_a_sweep_cut_off_after_some_slices_is_finished_by_the_next_run_pinging_each_elder_once(desk) -> None:
    desk = desk.sliced(10)
    desk.add_elders(60)
    desk.at("09:00", day=1)
    # Due in id order: 张秀兰, 孙桂英, o-elder-0 onwards; o-elder-30 is in the fourth slice.
    with power_cut_on_checkin_of(desk.factory, "o-elder-30"), pytest.raises(DBAPIError, match="power cut"):
        desk.pings()
    assert desk.count_checkins() == 30  # three slices done, the fourth rolled back whole
    first = Counter(p.recipient for p in desk.new_pushes() if p.kind == "checkin_ping")
    assert len(first) == 30 and ZHANG in first
    assert desk.pings().pinged == 32  # the next run: only those the cut-off run never reached
    assert desk.pings().total == 0
    again = Counter(p.recipient for p in desk.new_pushes() if p.kind == "checkin_ping")
    assert len(again) == 32 and not set(again) & set(first)
    assert desk.count_checkins() == 62 and set((first + again).values()) == {1}


@contextmanager
def power_cut_on_checkin_of(factory: sessionmaker[Session], openid: str) -> Iterator[None]:
    """While the block runs, writing this resident's check-in fails as a process dying mid-slice would."""
    with transaction(factory) as session:
        resident_id = session.scalars(select(Resident.id).where(Resident.openid == openid)).one()
        dialect = session.bind.dialect.name
        for statement in POWER_CUT[dialect]:
            session.execute(text(statement.format(resident_id=resident_id)))
    try:
        yield
    finally:
        with transaction(factory) as session:
            for statement in POWER_CUT_ENDS[dialect]:
                session.execute(text(statement))


POWER_CUT = {
    "sqlite": [
        "CREATE TRIGGER power_cut BEFORE INSERT ON checkins WHEN NEW.resident_id = {resident_id}"
        " BEGIN SELECT RAISE(ABORT, 'power cut'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION power_cut() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.resident_id = {resident_id} THEN RAISE EXCEPTION 'power cut'; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER power_cut BEFORE INSERT ON checkins FOR EACH ROW EXECUTE FUNCTION power_cut()",
    ],
}
POWER_CUT_ENDS = {
    "sqlite": ["DROP TRIGGER power_cut"],
    "postgresql": ["DROP TRIGGER power_cut ON checkins", "DROP FUNCTION power_cut()"],
}


def test_two_schedulers_reminding_and_knocking_at_once_act_once(desk) -> None:
    desk = desk.sliced(1)  # their reminder slices interleave
    desk.at("09:00", day=1)
    desk.pings()

    def twice(sweep) -> list[CheckInResult]:
        start = threading.Barrier(2)
        results: list[CheckInResult] = []

        def run() -> None:
            start.wait()
            results.append(sweep())

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        return results

    desk.at("11:00", day=1)
    assert sum(r.reminded for r in twice(desk.reminders)) == 2
    desk.at("13:00", day=1)
    assert sum(r.knocked for r in twice(desk.knocks)) == 2  # each row in its own transaction: any split
    kinds = Counter(p.kind for p in desk.new_pushes())
    assert (kinds["checkin_reminder"], kinds["new_ticket"], kinds["family_alert"]) == (2, 2, 1)


def test_a_resident_who_never_answers_gets_a_knock_task_every_day(desk) -> None:
    for day in (1, 2):
        desk.at("09:00", day=day)
        desk.pings()
        desk.at("11:00", day=day)
        desk.reminders()
        desk.at("13:00", day=day)
        assert desk.knocks().knocked == 2
    assert [t.category for t in tickets(desk.factory)] == ["knock"] * 4


def test_a_sweep_that_dies_half_way_leaves_nothing_half_done(desk, monkeypatch) -> None:
    desk.at("09:00", day=1)
    monkeypatch.setattr(pings, "_insert_pings", failing)
    with pytest.raises(RuntimeError):
        desk.pings()
    assert desk.checkin(ZHANG, day=1) is None  # the rows and their pings are one transaction
    monkeypatch.undo()
    assert desk.pings().pinged == 2
    desk.at("11:00", day=1)
    desk.reminders()
    desk.at("13:00", day=1)
    real_open_ticket = knocks.open_ticket

    def open_then_crash(services, resident, *args, **kwargs):
        ticket = real_open_ticket(services, resident, *args, **kwargs)
        if resident.openid == ZHANG:
            raise RuntimeError("the process died here")
        return ticket

    monkeypatch.setattr(knocks, "open_ticket", open_then_crash)
    result = knock_sweep(desk.factory, desk.domain, desk.classifier, desk.clock())
    assert (result.knocked, result.failed) == (1, 1)  # 孙桂英's task opened all the same
    assert desk.checkin(ZHANG, day=1).status == "reminded"
    monkeypatch.undo()
    assert desk.knocks().knocked == 1  # the restart finishes the job, once
    assert sorted(t.resident.openid for t in tickets(desk.factory)) == [SUN, ZHANG]
    family = [p for p in desk.new_pushes() if p.kind == "family_alert"]
    assert len(family) == 1


def failing(*args: object) -> None:
    """Stands in for a statement that never completes."""
    raise RuntimeError("the process died here")


def test_the_scheduled_sweep_reads_only_new_ping_times_between_hourly_full_passes(desk) -> None:
    scheduled = PingSweep(desk.factory, desk.domain)
    desk.at("09:00", day=1)
    assert scheduled(desk.clock()).pinged == 2
    desk.at("09:30", day=1)
    desk.add_resident("o-joined-late", "1号楼", minute=9 * 60)  # joined after their ping time passed
    desk.add_resident("o-later", "1号楼", minute=9 * 60 + 45)
    assert scheduled(desk.clock()).total == 0
    desk.at("09:45", day=1)
    assert scheduled(desk.clock()).pinged == 1
    desk.at("10:06", day=1)
    assert scheduled(desk.clock()).total == 0
    desk.at("10:07", day=1)  # the hourly full pass finds them, still within the catch-up window
    assert scheduled(desk.clock()).pinged == 1
    assert [p.recipient for p in desk.new_pushes()][-2:] == ["o-later", "o-joined-late"]


def test_the_scheduler_runs_each_check_in_sweep_every_minute(desk, caplog) -> None:
    scheduler = build_scheduler(desk.settings, desk.factory, ConsoleMessenger(), desk.clock, desk.classifier)
    jobs = {
        name: scheduler.get_job(name) for name in ("checkin-pings", "checkin-reminders", "checkin-knocks")
    }
    for job in jobs.values():
        assert job.trigger.interval == timedelta(seconds=60)
        assert (job.max_instances, job.coalesce) == (1, True)
    with caplog.at_level(logging.INFO, logger="bot.scheduler"):
        jobs["checkin-pings"].func()
        desk.clock.advance(hours=2)
        jobs["checkin-reminders"].func()
        desk.clock.advance(hours=2)
        jobs["checkin-knocks"].func()
        jobs["checkin-knocks"].func()
    assert caplog.messages == [
        "check-in pings: pinged=2",
        "check-in reminders: reminded=2",
        "check-in knock tasks: knocked=2",
    ]
