"""`run.py resident forget`: a resident asks to be deleted (PIPL), the office runs it, and the rest goes on.

A real history first (pings, a leak fixed and rated, a dispute still open with a photo, a home visit),
through the real webhook; then the command, called in-process as the office would type it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from config.settings import Settings
from handlers.domain_settings import DomainSettings
from handlers.jobs.reports import build_report, period_for, scope_for_community, scope_for_grid
from run import main
from storage.db import transaction
from storage.models import AuditEvent, Base, Resident, Ticket
from tests.conftest import make_settings, pushes, tickets
from tests.integration.test_checkins import FIRST_DAY, CheckInDesk
from tests.support import send_saved_photo

ZHANG, LIU, SUN = "demo-resident-zhang", "demo-resident-liu", "demo-resident-sun"
WANG = "demo-worker-wang"
# Everything that says who 张秀兰 is, where she lives, who her family is and what she wrote. (A worker's
# own "办结 1 阀门已更换" names no one: it goes with the other old messages, [retention] inbound_text_days.)
HER_DATA = (
    "张秀兰",
    "13800000101",
    ZHANG,
    "3号楼2单元301",
    "张伟",
    "13800000201",
    "demo-family-zhangwei",
    "水管漏水",
    "邻居太吵",
    "身体不错",
    "photo-1",
)
TICKET_FIGURES = ("opened", "resolved", "acknowledged_in_time", "resolved_in_time", "rated", "satisfied")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Sandbox settings with residents' photos saved under the test's folder."""
    return make_settings(tmp_path, GRIDDESK_DELIVERY_MEDIA_DIR=str(tmp_path / "media"))


@pytest.fixture
def office(monkeypatch, settings: Settings, factory):
    """`run.py` in-process, on the test's database, as the community office runs it."""
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("GRIDDESK_DELIVERY_MEDIA_DIR", str(settings.delivery.media_dir))
    return main


@pytest.fixture
def history(factory, settings, classifier, clock, wechat) -> CheckInDesk:
    """张秀兰's month: a ping answered, a leak fixed and rated (#1), a dispute open with a photo (#2),
    a visit; 刘建华's bill (#3)."""
    desk = CheckInDesk(factory, settings, classifier, clock)
    desk.at("09:00", day=1)
    desk.pings()

    def say(openid: str, text: str) -> None:
        clock.advance(
            minutes=1
        )  # WeChat would give a message sent again a new MsgId; our simulator, a new time
        wechat.say(openid, text)

    for openid, text in [
        (ZHANG, "1"),
        (ZHANG, "卫生间水管漏水了"),
        (WANG, "签收 1"),
        (WANG, "办结 1 阀门已更换"),
        (ZHANG, "1"),
        (ZHANG, "楼上邻居太吵了"),
    ]:
        say(openid, text)
    send_saved_photo(wechat, factory, settings.delivery.media_dir, ZHANG)
    say(LIU, "帮忙交一下水电费")
    say(WANG, "走访 3号楼2单元301 身体不错")
    assert [(t.id, t.status) for t in tickets(factory)] == [(1, "closed"), (2, "assigned"), (3, "assigned")]
    return desk


def everything_stored(factory) -> str:
    """Every row of every table, as text."""
    with transaction(factory) as session:
        return "\n".join(
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        )


def ticket_figures(factory, settings, clock) -> list[tuple[int, ...]]:
    """The day's ticket figures for the community and 张秀兰's grid."""
    settings = DomainSettings.of(settings)
    with transaction(factory) as session:
        scopes = [scope_for_community(session, settings), scope_for_grid(session, "G1")]
        period = period_for("day", FIRST_DAY)
        reports = [build_report(session, settings, scope, period, clock()) for scope in scopes]
        return [tuple(getattr(report, name) for name in TICKET_FIGURES) for report in reports]


def test_without_yes_it_shows_what_would_go_and_changes_nothing(history, office, factory, capsys) -> None:
    before = everything_stored(factory)

    assert office(["resident", "forget", ZHANG]) == 1

    out, err = capsys.readouterr()
    assert out.strip() == (
        "resident #1 (张*兰, 3号楼2单元301): would erase tickets 2 (1 open), messages 7, "
        "pushes 7 (7 unsent, cancelled), family contacts 1, media files 1"
    )
    assert err.strip() == "nothing changed: run again with --yes to forget them"
    assert everything_stored(factory) == before


def test_a_forgotten_resident_leaves_no_trace_and_their_tickets_still_count(
    history, office, factory, settings, clock, capsys
) -> None:
    figures = ticket_figures(factory, settings, clock)

    assert office(["resident", "forget", ZHANG, "--yes", "--by", "社区主任"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        "forgotten: resident #1 (张*兰, 3号楼2单元301) is now 已删除的居民; erased tickets 2"
    )
    assert out[1] == "ticket #2 stays open for its worker, who was told the details are gone"
    stored = everything_stored(factory)
    assert [word for word in HER_DATA if word in stored] == []
    assert "刘建华" in stored and "水电费" in stored  # her neighbour's data is untouched
    assert not (settings.delivery.media_dir / "photo-1.jpg").exists()
    assert ticket_figures(factory, settings, clock) == figures
    assert [(t.id, t.status, t.resident.name, t.grid.code) for t in tickets(factory)[:2]] == [
        (1, "closed", "已删除的居民", "G1"),
        (2, "assigned", "已删除的居民", "G1"),
    ]
    with transaction(factory) as session:
        audit = session.scalars(select(AuditEvent)).one()
    assert (audit.action, audit.actor, audit.subject) == ("resident_forgotten", "社区主任", "resident #1")
    assert audit.detail.startswith("tickets 2 (1 open), messages 7")
    her_tickets = tickets(factory)[:2]
    assert all(t.events[-1].kind == "resident_forgotten" for t in her_tickets)
    assert {event.note for t in her_tickets for event in t.events} == {None}


def test_the_open_ticket_stays_with_its_worker_and_nothing_reaches_her_any_more(
    history, office, factory, wechat
) -> None:
    assert office(["resident", "forget", ZHANG, "--yes"]) == 0
    told = [p for p in pushes(factory) if p.recipient == WANG and p.status == "pending"]
    assert told[-1].text.startswith("【工单 #2 · 居民信息已删除】") and "请办结" in told[-1].text
    seen = len(pushes(factory))

    assert "工单 #2 已办结" in wechat.say(WANG, "办结 2 已调解")

    assert tickets(factory)[1].status == "resolved"
    assert [p.recipient for p in pushes(factory)[seen:]] == []  # no rating request to a tombstone
    with transaction(factory) as session:
        tombstone = session.get(Resident, 1)
        assert tombstone.openid.startswith("forgotten:") and not tombstone.subscribed


def test_her_check_ins_stop_and_writing_again_makes_her_a_stranger(history, office, factory, wechat) -> None:
    history.at("09:00", day=2)
    assert history.pings().pinged == 2  # she and 孙桂英, neither answers

    assert office(["resident", "forget", ZHANG, "--yes"]) == 0

    history.at("11:00", day=2)
    history.reminders()
    history.at("13:00", day=2)
    assert history.knocks().knocked
    assert {t.resident.name for t in tickets(factory) if t.category == "knock"} == {"孙桂英"}  # her door only
    history.at("09:00", day=3)
    history.new_pushes()
    assert history.pings().pinged == 1
    assert [p.recipient for p in history.new_pushes()] == [SUN]
    wechat.say(ZHANG, "你好")
    with transaction(factory) as session:
        again = session.scalars(select(Resident).where(Resident.openid == ZHANG)).one()
        assert (again.name, again.building_id, again.family) == (None, None, [])
        assert again.id != 1


def test_an_open_knock_task_stays_with_the_worker_and_no_family_hears_of_it(
    history, office, factory, wechat
) -> None:
    history.at("09:00", day=2)
    history.pings()
    history.at("11:00", day=2)
    history.reminders()
    history.at("13:00", day=2)
    history.knocks()
    (knock,) = [t for t in tickets(factory) if t.category == "knock" and t.resident.name == "张秀兰"]
    assert office(["resident", "forget", ZHANG, "--yes"]) == 0
    seen = len(pushes(factory))

    assert "已办结" in wechat.say(WANG, f"办结 {knock.id} 已上门")
    history.knocks()

    assert tickets(factory)[knock.id - 1].status in ("resolved", "closed")
    assert [p.recipient for p in pushes(factory)[seen:]] == []


def test_forgetting_twice_says_so_and_an_unknown_resident_is_one_line(history, office, capsys) -> None:
    assert office(["resident", "forget", ZHANG, "--yes"]) == 0
    capsys.readouterr()

    assert office(["resident", "forget", ZHANG, "--yes"]) == 0
    assert capsys.readouterr().out.startswith("resident #1 was forgotten on ")
    assert office(["resident", "forget", "o-nobody", "--yes"]) == 2
    assert capsys.readouterr().err == "cannot forget: no resident has that openid\n"
    assert office(["resident", "forget", WANG, "--yes"]) == 2
    assert (
        capsys.readouterr().err
        == "cannot forget: that openid is a staff member's: use `run.py worker leave`\n"
    )


def test_a_register_entry_not_on_wechat_is_forgotten_by_address(office, factory, capsys) -> None:
    template = Path(__file__).resolve().parents[2] / "config" / "register-template.csv"
    assert office(["residents", "import", str(template)]) == 0
    assert office(["resident", "forget", "--address", "2号楼1单元402", "--yes"]) == 0
    capsys.readouterr()

    assert office(["residents", "export"]) == 0
    exported = capsys.readouterr().out
    assert "王秀英" not in exported and "赵德明" in exported
    assert office(["resident", "forget", "--address", "2号楼1单元402", "--yes"]) == 2
    assert capsys.readouterr().err == "cannot forget: nobody lives at 2号楼1单元402\n"
    with transaction(factory) as session:
        assert session.scalar(select(Ticket.id)) is None
