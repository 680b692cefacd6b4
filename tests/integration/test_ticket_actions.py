"""The ticket operations every adapter calls: typed arguments in, an Outcome out, refusals included."""

from __future__ import annotations

from sqlalchemy import select

from handlers.tickets.actions import acknowledge, extend, progress, reassign, send_back
from handlers.tickets.outcome import Refusal
from handlers.tickets.recategorise import recategorise
from storage.db import transaction
from storage.models import Worker
from tests.conftest import pushes, tickets

ZHANG = "demo-resident-zhang"  # grid G1: worker 王芳, leader 赵建国


def test_an_accepted_operation_reports_the_change_and_everyone_it_told(
    wechat, factory, runtime
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    with transaction(factory) as session:
        services = runtime.services(session)
        wang = session.scalars(select(Worker).where(Worker.name == "王芳")).one()
        signed = acknowledge(services, wang, 1)
        extended = extend(services, wang, 1, 24, " 等配件 ")
        told = [(push.kind, push.worker.name if push.worker else "居民") for push in extended.told]
        sent_back = send_back(services, wang, 1, "需要城管处理")
        holder = sent_back.assignee.name if sent_back.assignee else None
    assert signed.accepted and (signed.status_before, signed.status_after) == ("assigned", "acknowledged")
    assert [push.kind for push in signed.told] == ["acknowledged"]
    assert extended.accepted and extended.status_after == "acknowledged"
    assert told == [("extended", "赵建国"), ("status", "居民")]
    assert sent_back.accepted and sent_back.status_after == "assigned" and holder == "赵建国"
    assert tickets(factory)[0].events[-2].note == "延期24小时:等配件"


def test_refusals_are_outcomes_that_change_nothing(wechat, factory, runtime) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    before = len(pushes(factory)), len(tickets(factory)[0].events)
    with transaction(factory) as session:
        services = runtime.services(session)
        wang, li = (
            session.scalars(select(Worker).where(Worker.name == name)).one() for name in ("王芳", "李骁")
        )
        zhao = session.scalars(select(Worker).where(Worker.name == "赵建国")).one()
        outcomes = [
            acknowledge(services, wang, 999),
            acknowledge(services, li, 1),  # 李骁 works G2
            progress(services, wang, 1, "  "),
            extend(services, wang, 1, 0, "等配件"),
            extend(services, wang, 1, None, "等配件"),
            reassign(services, wang, 1, zhao),  # a grid worker may not reassign
            reassign(services, zhao, 1, None),
            reassign(services, zhao, 1, wang),  # 王芳 holds it already
            recategorise(services, zhao, 1, None),
            recategorise(services, zhao, 1, "repair"),
        ]
        reasons = [(outcome.accepted, outcome.refusal) for outcome in outcomes]
    assert reasons == [
        (False, Refusal.NOT_FOUND),
        (False, Refusal.NOT_YOURS),
        (False, Refusal.NOTE_MISSING),
        (False, Refusal.BAD_HOURS),
        (False, Refusal.BAD_HOURS),
        (False, Refusal.NOT_PERMITTED),
        (False, Refusal.UNKNOWN_ASSIGNEE),
        (False, Refusal.UNCHANGED),
        (False, Refusal.UNKNOWN_CATEGORY),
        (False, Refusal.UNCHANGED),
    ]
    assert (len(pushes(factory)), len(tickets(factory)[0].events)) == before


def test_a_state_the_machine_refuses_is_an_outcome_not_an_exception(
    wechat, factory, runtime
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say("demo-worker-wang", "办结 1 修好了")
    with transaction(factory) as session:
        services = runtime.services(session)
        wang = session.scalars(select(Worker).where(Worker.name == "王芳")).one()
        outcome = progress(services, wang, 1, "再看看")
    assert (outcome.refusal, outcome.status_before, outcome.status_after) == (
        Refusal.NOT_NOW,
        "resolved",
        "resolved",
    )
    assert outcome.told == ()
