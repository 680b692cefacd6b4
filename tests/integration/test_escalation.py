"""The deadline sweep, by moving the clock: warnings, the ladder, emergency re-pages, overdue, auto-close."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from handlers.context import Dependencies
from handlers.domain_settings import DomainSettings
from handlers.jobs.escalation import SweepResult, missed_signing, sweep
from handlers.language.intents import IntentClassifier
from handlers.tickets.ladder import BACKUP, COMMUNITY, LEADER, STREET, WORKER
from handlers.tickets.lifecycle import apply
from storage.db import transaction
from storage.models import OutboxMessage, Ticket, Worker
from tests.conftest import pushes, tickets
from tests.support import FakeClock

ZHANG = "demo-resident-zhang"  # 3号楼2单元301, grid G1
LIU = "demo-resident-liu"  # 5号楼, grid G2: worker 李骁, backup 王芳
WANG, LI, ZHAO, DUTY = "demo-worker-wang", "demo-worker-li", "demo-leader-zhao", "demo-community-duty"
STREET_OFFICE = "street-office"
LEAK = "家里水管漏了"  # repair/water: 120 minutes to sign, 24 hours to resolve
FIRE = "家里着火了"  # emergency: 5 minutes to sign, 4 hours to resolve


@dataclass
class Desk:
    """The community as the sweep sees it: time moves, the sweep runs, pushes pile up in the outbox."""

    factory: sessionmaker[Session]
    settings: DomainSettings
    classifier: IntentClassifier
    clock: FakeClock
    seen: int = 0

    def sweep(self) -> SweepResult:
        """One scheduled run of the sweep at the current fake time; no ticket may fail."""
        result = sweep(self.factory, self.settings, self.classifier, self.clock())
        assert result.failed == 0
        return result

    def later(self, **delta: float) -> SweepResult:
        """Move the clock, then sweep."""
        self.clock.advance(**delta)
        return self.sweep()

    def new_pushes(self) -> list[OutboxMessage]:
        """Pushes queued since the last call."""
        found = pushes(self.factory)
        fresh, self.seen = found[self.seen :], len(found)
        return fresh

    def ticket(self, number: int = 1) -> Ticket:
        """One ticket, with its assignee and events loaded."""
        return next(t for t in tickets(self.factory) if t.id == number)

    def act(self, number: int, action: str, openid: str) -> None:
        """A worker signs or resolves a ticket, as their WeChat command would."""
        with transaction(self.factory) as session:
            ticket = session.get_one(Ticket, number)
            worker = session.scalars(select(Worker).where(Worker.openid == openid)).one()
            services = Dependencies(self.settings, self.classifier, self.clock).services(session)
            apply(services, ticket, action, worker.name)
            ticket.assignee = worker
            if action == "resolve":
                ticket.rating_requested_at = self.clock()


@pytest.fixture
def desk(factory, domain, classifier, clock) -> Desk:
    """The sweep over the demo community."""
    return Desk(factory, domain, classifier, clock)


@pytest.fixture
def street_office(factory) -> None:
    """The demo has no street office; add one so the ladder has all five rungs."""
    with transaction(factory) as session:
        session.add(Worker(role="street", name="街道办", openid=STREET_OFFICE, phone="010-87654321"))


def report(desk: Desk, wechat, resident: str, words: str) -> None:
    """A resident reports through the webhook; the opening pushes are set aside."""
    assert "工单号" in wechat.say(resident, words)
    desk.new_pushes()


def test_unsigned_ticket_warns_its_worker_once_before_the_deadline(desk, wechat) -> None:
    report(desk, wechat, ZHANG, LEAK)
    assert desk.later(minutes=89).total == 0
    assert desk.later(minutes=1).warned == 1
    [push] = desk.new_pushes()
    assert (push.recipient, push.kind) == (WANG, "deadline_warning")
    assert push.text.startswith("【即将超时】工单 #1 还有30分钟需签收")
    assert "签收 1" in push.text and "3号楼2单元301" in push.text and LEAK in push.text
    assert desk.sweep().total == 0 and desk.later(minutes=20).total == 0
    assert desk.new_pushes() == []
    assert [e.kind for e in desk.ticket().events].count("ack_warning") == 1


def test_missed_acknowledgements_climb_every_rung_with_the_history(desk, wechat, street_office) -> None:
    report(desk, wechat, ZHANG, LEAK)
    climbs = [
        (LI, BACKUP, "网格员王芳自11月23日 10:00起未签收"),
        (ZHAO, LEADER, "网格员李骁自11月23日 12:00起未签收"),
        (DUTY, COMMUNITY, "网格长赵建国自11月23日 14:00起未签收"),
        (STREET_OFFICE, STREET, "社区值班台自11月23日 16:00起未签收"),
    ]
    for openid, level, missed in climbs:
        assert desk.later(minutes=120).escalated == 1
        [push] = desk.new_pushes()
        assert (push.recipient, push.kind) == (openid, "escalation")
        assert push.text.startswith("【升级督办 · 报修】 #1") and missed in push.text
        for detail in ("张秀兰 13800000101", "3号楼2单元301", LEAK, "派给网格员王芳", "请在2小时内签收"):
            assert detail in push.text
        ticket = desk.ticket()
        assert (ticket.assignee.openid, ticket.escalation_level, ticket.status) == (openid, level, "assigned")
        assert ticket.ack_due_at == desk.clock() + timedelta(minutes=120)
    assert "升级到社区(社区值班台)" in push.text  # the street office sees how far it has climbed
    assert [e.kind for e in desk.ticket().events].count("escalate") == 4


def test_an_unassigned_ticket_is_given_to_the_next_rung(desk, wechat) -> None:
    report(desk, wechat, ZHANG, LEAK)
    with transaction(desk.factory) as session:
        ticket = session.get_one(Ticket, 1)
        ticket.status, ticket.assignee, ticket.escalation_level = "new", None, WORKER
    desk.later(minutes=120)
    assert [p.recipient for p in desk.new_pushes()] == [LI]
    ticket = desk.ticket()
    assert (ticket.status, ticket.assignee.openid) == ("assigned", LI)
    assert "值班人员自11月23日 10:00起未签收" in ticket.events[-1].note


def test_the_top_rung_is_repaged_a_few_times_then_paging_stops(desk, wechat) -> None:
    report(desk, wechat, ZHANG, LEAK)
    for _ in range(3):  # backup, leader, community desk: the demo's top rung
        desk.later(minutes=120)
    desk.new_pushes()
    for count in (1, 2, 3):
        assert desk.later(minutes=120).escalated == 1
        [push] = desk.new_pushes()
        assert push.recipient == DUTY and push.text.startswith(f"【再次催办 · 第{count}次】 #1")
        assert "本工单已升级到社区" in push.text
    assert desk.later(minutes=120).exhausted == 1
    for _ in range(3):
        assert desk.later(minutes=120).total == 0
    assert desk.new_pushes() == []
    ticket = desk.ticket()
    kinds = [e.kind for e in ticket.events]
    assert kinds.count("repaged") == 3 and kinds.count("escalation_exhausted") == 1
    assert (ticket.assignee.openid, ticket.escalation_level, ticket.repeat_pages) == (DUTY, COMMUNITY, 3)


def test_a_fresh_hand_over_after_paging_stopped_starts_the_ladder_again(desk, wechat) -> None:
    report(desk, wechat, ZHANG, LEAK)
    for _ in range(7):  # three climbs, three repeats, then it gives up
        desk.later(minutes=120)
    with transaction(desk.factory) as session:
        ticket = session.get_one(Ticket, 1)
        ticket.escalation_level, ticket.repeat_pages = WORKER, 0
        ticket.ack_due_at = desk.clock() + timedelta(minutes=120)
    desk.new_pushes()
    assert desk.later(minutes=120).escalated == 1
    assert [p.recipient for p in desk.new_pushes()] == [LI]


def test_an_emergency_pages_every_rung_every_five_minutes_until_signed(desk, wechat, street_office) -> None:
    report(desk, wechat, ZHANG, FIRE)
    assert desk.later(minutes=4).total == 0  # no "about to expire" warning: the re-page is the warning
    everyone_to_community = {WANG, LI, ZHAO, DUTY}
    for count in (1, 2, 3):
        assert desk.later(minutes=1).emergency_pages == 1
        sent = desk.new_pushes()
        assert {p.recipient for p in sent} == everyone_to_community and len(sent) == 4
        assert all(p.kind == "emergency" for p in sent)
        assert sent[0].text.startswith(f"【紧急求助 · 第{count}次呼叫】 #1") and FIRE in sent[0].text
        assert "至今无人签收" in sent[0].text and "签收 1" in sent[0].text
        assert desk.later(minutes=4).total == 0  # not again before five minutes are up
    assert desk.later(minutes=1).emergency_pages == 1
    assert {p.recipient for p in desk.new_pushes()} == everyone_to_community | {STREET_OFFICE}
    assert desk.ticket().escalation_level == STREET
    desk.act(1, "acknowledge", WANG)
    for _ in range(6):
        assert desk.later(minutes=5).emergency_pages == 0
    assert [p for p in desk.new_pushes() if p.kind == "emergency"] == []
    ticket = desk.ticket()
    assert (ticket.status, ticket.repeat_pages) == ("acknowledged", 4)
    assert [e.kind for e in ticket.events].count("emergency_repage") == 4


def test_emergency_repages_follow_the_holder_after_the_grid_changed_hands(desk, wechat) -> None:
    report(desk, wechat, ZHANG, FIRE)
    with transaction(desk.factory) as session:
        chen = session.scalars(select(Worker).where(Worker.name == "陈静")).one()
        session.get_one(Ticket, 1).grid.worker = chen  # off duty; her AB岗 is 李骁

    assert desk.later(minutes=5).emergency_pages == 1

    sent = desk.new_pushes()
    assert [p.recipient for p in sent] == [WANG, LI, ZHAO, DUTY], "the holder first, then the rungs above"
    assert desk.ticket().assignee.openid == WANG


def test_signed_ticket_is_warned_then_paged_once_when_overdue(desk, wechat) -> None:
    report(desk, wechat, ZHANG, LEAK)
    desk.act(1, "acknowledge", WANG)
    assert desk.later(hours=18).warned == 1
    [warning] = desk.new_pushes()
    assert warning.recipient == WANG and warning.text.startswith("【即将超时】工单 #1 还有6小时需办结")
    assert desk.later(hours=6).overdue_pages == 1
    sent = desk.new_pushes()
    assert [(p.recipient, p.kind) for p in sent] == [(WANG, "overdue"), (ZHAO, "overdue")]
    assert sent[0].text.startswith("【已超期】工单 #1") and "处理人:网格员王芳" in sent[0].text
    for _ in range(4):
        assert desk.later(hours=1).total == 0
    assert desk.new_pushes() == []


def test_overdue_emergency_is_paged_again_every_half_hour(desk, wechat) -> None:
    report(desk, wechat, ZHANG, FIRE)
    desk.act(1, "acknowledge", WANG)
    assert desk.later(hours=4).overdue_pages == 1
    assert {p.recipient for p in desk.new_pushes()} == {WANG, ZHAO}
    assert desk.later(minutes=29).total == 0
    assert desk.later(minutes=1).overdue_pages == 1
    assert {p.recipient for p in desk.new_pushes()} == {WANG, ZHAO}


def test_resolved_ticket_nobody_rated_closes_after_72_hours(desk, wechat) -> None:
    report(desk, wechat, ZHANG, LEAK)
    report(desk, wechat, LIU, LEAK)
    for number, worker in ((1, WANG), (2, LI)):
        desk.act(number, "acknowledge", worker)
        desk.act(number, "resolve", worker)
    with transaction(desk.factory) as session:
        session.get_one(Ticket, 2).rating = 3
    assert desk.later(hours=71, minutes=59).total == 0
    assert desk.later(minutes=1).closed_unrated == 1
    [push] = desk.new_pushes()
    assert push.recipient == ZHANG and "您的工单 #1 已办结归档" in push.text
    closed, rated = desk.ticket(1), desk.ticket(2)
    assert (closed.status, closed.closed_at) == ("closed", desk.clock())
    assert closed.events[-1].note == "居民72小时未评价,自动关闭"
    assert rated.status == "resolved"
    assert desk.later(hours=24).total == 0


def test_sweeping_twice_at_the_same_time_does_nothing_more(desk, wechat) -> None:
    report(desk, wechat, ZHANG, LEAK)
    report(desk, wechat, LIU, FIRE)
    first = desk.later(minutes=120)
    assert (first.escalated, first.emergency_pages) == (1, 1)
    before = (len(pushes(desk.factory)), sum(len(t.events) for t in tickets(desk.factory)))
    assert desk.sweep().total == 0
    assert (len(pushes(desk.factory)), sum(len(t.events) for t in tickets(desk.factory))) == before


def test_two_sweeps_at_once_escalate_exactly_once(desk, wechat) -> None:
    report(desk, wechat, ZHANG, LEAK)
    report(desk, wechat, LIU, FIRE)
    desk.clock.advance(minutes=120)
    start = threading.Barrier(2)
    results: list[SweepResult] = []

    def run() -> None:
        start.wait()
        results.append(desk.sweep())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2
    assert sum(r.escalated for r in results) == 1 and sum(r.emergency_pages for r in results) == 1
    sent = desk.new_pushes()
    assert [p.recipient for p in sent if p.kind == "escalation"] == [LI]
    assert len([p for p in sent if p.kind == "emergency"]) == 4  # 李骁, his backup 王芳, 赵建国, the desk
    escalated = desk.ticket(1)
    assert (escalated.assignee.openid, escalated.escalation_level) == (LI, BACKUP)
    assert [e.kind for e in escalated.events].count("escalate") == 1


def test_a_ticket_another_writer_changed_is_left_to_it(desk, wechat, monkeypatch, caplog) -> None:
    """On PostgreSQL the loser of a race meets the optimistic lock; here a raw update plays the winner."""
    report(desk, wechat, ZHANG, LEAK)
    report(desk, wechat, LIU, LEAK)
    real_ladder = missed_signing.ladder

    def racing_ladder(session: Session, ticket: Ticket):
        if ticket.id == 1:
            session.connection().execute(text("UPDATE tickets SET version = version + 1 WHERE id = 1"))
        return real_ladder(session, ticket)

    monkeypatch.setattr(missed_signing, "ladder", racing_ladder)
    with caplog.at_level(logging.INFO, logger="handlers.jobs.escalation"):
        result = desk.later(minutes=120)
    assert (result.escalated, result.failed) == (1, 0)
    assert "ticket 1 changed under the sweep" in caplog.text
    assert [p.ticket_id for p in desk.new_pushes()] == [2]
    assert (desk.ticket(1).escalation_level, [e.kind for e in desk.ticket(1).events]) == (
        WORKER,
        ["opened", "assigned"],
    )
    monkeypatch.undo()
    assert desk.sweep().escalated == 1
    assert [p.recipient for p in desk.new_pushes()] == [LI]
