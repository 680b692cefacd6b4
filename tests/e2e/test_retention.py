"""Retention ([retention] in config/griddesk.toml): personal data goes when its time is up; reports stay.

The history happens in March 2025 (through the real webhook, on a clock moved by hand), so by the real
clock `run.py retention run` finds it well past a year old.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.messenger import ConsoleMessenger
from bot.scheduler import RETENTION_JOB, build_scheduler
from config.settings import Settings
from handlers.domain_settings import DomainSettings
from handlers.jobs import retention
from handlers.jobs.checkins import ping_sweep
from handlers.jobs.reports import build_report, period_for, report_detail, scope_for_community, scope_for_grid
from handlers.jobs.retention import sweep_retention
from run import main
from storage.db import transaction
from storage.erasure import ERASED_TEXT
from storage.leases import JobLeases
from storage.models import AuditEvent, CheckIn, InboundMessage
from tests.conftest import make_settings, pushes, tickets
from tests.integration.test_checkins import everyone_subscribed, with_ping_subscription
from tests.support import FakeClock, send_saved_photo

ZHANG, LIU, WANG = "demo-resident-zhang", "demo-resident-liu", "demo-worker-wang"
SUN = "demo-resident-sun"
HISTORY_DAY = date(2025, 3, 3)


@pytest.fixture
def clock() -> FakeClock:
    """10:00 local on 3 March 2025."""
    return FakeClock(datetime(2025, 3, 3, 2, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The documented retention (365 / 180 days), photos saved under the test's folder."""
    return make_settings(tmp_path, GRIDDESK_DELIVERY_MEDIA_DIR=str(tmp_path / "media"))


@pytest.fixture
def history(factory, settings, clock, wechat) -> Path:
    """#1 张秀兰's leak with a photo, fixed and rated (closed); #2 刘建华's bill, open. Returns the photo."""
    for openid, text in [(ZHANG, "卫生间水管漏水了"), (WANG, "签收 1"), (LIU, "帮忙交一下水电费")]:
        clock.advance(minutes=1)
        wechat.say(openid, text)
    photo = send_saved_photo(wechat, factory, settings.delivery.media_dir, ZHANG)
    for openid, text in [(WANG, "办结 1 阀门已更换"), (ZHANG, "1")]:
        clock.advance(minutes=1)
        wechat.say(openid, text)
    assert [(t.id, t.status) for t in tickets(factory)] == [(1, "closed"), (2, "assigned")]
    return photo


def reports(factory, settings, clock) -> list[str]:
    """The day's and the month's reports, community and 张秀兰's grid, as staff read them."""
    settings = DomainSettings.of(settings)
    with transaction(factory) as session:
        scopes = [scope_for_community(session, settings), scope_for_grid(session, "G1")]
        periods = [period_for(kind, HISTORY_DAY) for kind in ("day", "month")]
        return [
            report_detail(build_report(session, settings, scope, period, clock()))
            for scope in scopes
            for period in periods
        ]


def messages(factory) -> list[InboundMessage]:
    with transaction(factory) as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def test_a_closed_ticket_past_its_year_loses_its_words_and_reports_count_the_same(
    history, factory, settings, clock
) -> None:
    clock.advance(days=366)
    before = reports(factory, settings, clock)

    result = sweep_retention(factory, settings.retention, settings.delivery.media_dir, clock())

    assert (result.tickets, result.media_files) == (1, 1)
    assert reports(factory, settings, clock) == before
    leak, bill = tickets(factory)
    assert (leak.summary, leak.status, leak.category, leak.grid.code, leak.rating) == (
        ERASED_TEXT,
        "closed",
        "repair",
        "G1",
        1,
    )
    assert {event.note for event in leak.events} == {None}
    assert [event.kind for event in leak.events][:3] == ["opened", "assigned", "acknowledge"]
    assert bill.summary == "帮忙交一下水电费"  # still open: it keeps its words
    about_leak = " ".join(p.text + p.recipient_name for p in pushes(factory) if p.ticket_id == 1)
    assert "张秀兰" not in about_leak and "13800000101" not in about_leak and "水管" not in about_leak
    assert not history.exists()
    assert all(m.content is None and m.raw == "" for m in messages(factory))  # all older than 180 days
    assert sweep_retention(factory, settings.retention, settings.delivery.media_dir, clock()).total == 0


def test_each_kind_of_data_waits_for_its_own_time(history, factory, settings, clock) -> None:
    clock.advance(days=179)
    assert sweep_retention(factory, settings.retention, settings.delivery.media_dir, clock()).total == 0
    assert [m.content for m in messages(factory)][:2] == ["卫生间水管漏水了", "签收 1"]

    clock.advance(days=2)
    result = sweep_retention(factory, settings.retention, settings.delivery.media_dir, clock())

    assert (result.tickets, result.messages, result.media_files) == (0, len(messages(factory)), 1)
    assert [t.summary for t in tickets(factory)] == ["卫生间水管漏水了", "帮忙交一下水电费"]
    assert {(m.content, m.raw, m.media_path) for m in messages(factory)} == {(None, "", None)}


def test_check_in_answers_go_with_the_messages_a_slice_at_a_time(
    factory, settings, clock, wechat, monkeypatch
) -> None:
    monkeypatch.setattr(retention, "ANSWERS_BATCH_SIZE", 1)  # one transaction per answer
    domain = DomainSettings.of(with_ping_subscription(settings))
    everyone_subscribed(factory, clock())  # 孙桂英 has not written in days either
    assert ping_sweep(factory, domain, clock()).pinged == 2
    assert "收到您的平安" in wechat.say(ZHANG, "1")
    assert "收到您的平安" in wechat.say(SUN, "好")
    clock.advance(days=1)
    assert ping_sweep(factory, domain, clock()).pinged == 2
    wechat.say(ZHANG, "平安")  # a day later: kept one day longer
    clock.advance(days=180)
    retention_sweep = partial(sweep_retention, factory, settings.retention, settings.delivery.media_dir)
    assert retention_sweep(clock()).checkin_answers == 2
    assert checkin_answers(factory) == [
        ("answered", None),
        ("answered", None),
        ("answered", "平安"),
        ("pinged", None),
    ]
    clock.advance(days=1)
    assert retention_sweep(clock()).checkin_answers == 1
    assert retention_sweep(clock()).checkin_answers == 0


def checkin_answers(factory) -> list[tuple[str, str | None]]:
    """Every check-in's status and answer, in the order they were recorded."""
    with transaction(factory) as session:
        return [
            tuple(row) for row in session.execute(select(CheckIn.status, CheckIn.answer).order_by(CheckIn.id))
        ]


def test_a_late_retry_of_an_erased_message_is_still_recognised(
    history, factory, settings, clock, wechat
) -> None:
    first, count = messages(factory)[0], len(messages(factory))
    clock.advance(days=181)
    sweep_retention(factory, settings.retention, settings.delivery.media_dir, clock())

    assert wechat.post_xml(first.raw).status_code == 200  # what WeChat sent then, sent again

    assert len(messages(factory)) == count and len(tickets(factory)) == 2
    assert messages(factory)[0].content is None


@pytest.fixture
def office(monkeypatch, settings: Settings, factory):
    """`run.py` in-process on the test's database."""
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GRIDDESK_DELIVERY_MEDIA_DIR", str(settings.delivery.media_dir))
    return main


def test_retention_run_erases_now_prints_what_and_leaves_an_audit_line(
    history, office, factory, capsys
) -> None:
    count = len(messages(factory))

    assert office(["retention", "run"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "retention: closed tickets 365 days, message text 180 days",
        f"erased: tickets=1 messages={count} media_files=1",
    ]
    with transaction(factory) as session:
        audit = session.scalars(select(AuditEvent)).one()
    assert (audit.action, audit.actor, audit.detail) == (
        "retention_sweep",
        "系统",
        f"tickets=1 messages={count} media_files=1",
    )
    assert office(["retention", "run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "erased: nothing was past its time"


def test_routing_misses_leave_out_tickets_whose_words_are_gone(
    history, office, factory, settings, clock, wechat, capsys
) -> None:
    for openid, text in [("demo-leader-zhao", "改类 2 报修"), (LIU, "取消 2")]:
        clock.advance(minutes=1)
        wechat.say(openid, text)
    assert office(["routing", "misses"]) == 0
    assert capsys.readouterr().out == "帮忙交一下水电费\trepair\t\n"
    clock.advance(days=366)
    sweep_retention(factory, settings.retention, settings.delivery.media_dir, clock())

    assert office(["routing", "misses"]) == 0

    assert capsys.readouterr().out == ""


def test_zero_keeps_for_ever(history, office, monkeypatch, factory, capsys) -> None:
    monkeypatch.setenv("GRIDDESK_RETENTION_CLOSED_TICKET_DAYS", "0")
    monkeypatch.setenv("GRIDDESK_RETENTION_INBOUND_TEXT_DAYS", "0")

    assert office(["retention", "run"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "retention: closed tickets kept for ever, message text kept for ever",
        "erased: nothing was past its time",
    ]
    assert tickets(factory)[0].summary == "卫生间水管漏水了" and history.exists()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "INBOUND_TEXT_DAYS",
            "3",
            "GRIDDESK_RETENTION_INBOUND_TEXT_DAYS (retention.inbound_text_days): "
            "expected 0 (keep for ever) or a whole number of days from 7 to 36500, got '3'",
        ),
        (
            "CLOSED_TICKET_DAYS",
            "-1",
            "GRIDDESK_RETENTION_CLOSED_TICKET_DAYS (retention.closed_ticket_days): "
            "expected 0 (keep for ever) or a whole number of days from 7 to 36500, got '-1'",
        ),
        (
            "CLOSED_TICKET_DAYS",
            "a year",
            "GRIDDESK_RETENTION_CLOSED_TICKET_DAYS (retention.closed_ticket_days): "
            "expected 0 (keep for ever) or a whole number of days from 7 to 36500, got 'a year'",
        ),
        (
            "SWEEP_INTERVAL_MINUTES",
            "0",
            "GRIDDESK_RETENTION_SWEEP_INTERVAL_MINUTES (retention.sweep_interval_minutes): "
            "expected a whole number of minutes from 1 to 1440, got '0'",
        ),
    ],
)
def test_a_bad_retention_setting_stops_start_up_with_one_line(
    monkeypatch, capsys, name, value, message
) -> None:
    monkeypatch.setenv(f"GRIDDESK_RETENTION_{name}", value)

    assert main(["retention", "run"]) == 2

    assert capsys.readouterr().err == f"configuration error: {message}\n"


def test_while_a_scheduler_runs_the_sweep_retention_run_waits_its_turn(office, factory, capsys) -> None:
    assert JobLeases(factory).acquire(RETENTION_JOB, 60)

    assert office(["retention", "run"]) == 1

    assert (
        capsys.readouterr().err == "a scheduler is running the retention sweep right now: try again later\n"
    )


def test_the_scheduler_runs_the_sweep_every_hour(history, factory, settings, clock) -> None:
    scheduler = build_scheduler(settings, factory, ConsoleMessenger(), clock, None)
    job = scheduler.get_job(RETENTION_JOB)
    assert job.trigger.interval == timedelta(hours=1)
    clock.advance(days=366)

    job.func()

    assert tickets(factory)[0].summary == ERASED_TEXT
