"""The visit clock (三访): workers log visits on WeChat; due visits are reminded, overdue ones reported."""

from __future__ import annotations

from sqlalchemy import select

from handlers.jobs.visits import send_visit_digests
from storage.db import transaction
from storage.models import Resident, Visit
from tests.conftest import pushes

WANG, LI, ZHAO = "demo-worker-wang", "demo-worker-li", "demo-leader-zhao"


def digests(factory, openid: str) -> list[str]:
    return [p.text for p in pushes(factory) if p.recipient == openid and p.kind.startswith("visit")]


def test_a_worker_logs_a_visit_by_address_and_the_clock_restarts(wechat, factory, clock) -> None:
    reply = wechat.say(WANG, "走访 3号楼2单元301 身体不错,已送米面油")
    assert "已记录走访:张秀兰(3号楼2单元301)" in reply and "特困户每周走访一次" in reply
    with transaction(factory) as session:
        visit = session.scalar(select(Visit))
        assert (visit.note, visit.visited_at) == ("身体不错,已送米面油", clock())
        assert session.scalar(select(Resident.last_visit_at).where(Resident.name == "张秀兰")) == clock()


def test_visits_by_room_or_name_within_the_workers_grids_only(wechat) -> None:
    assert "刘建华" in wechat.say(LI, "走访 502 一切正常")
    assert "孙桂英" in wechat.say(ZHAO, "走访 孙桂英 血压正常")  # the leader of all three grids
    assert "没有找到“刘建华”" in wechat.say(WANG, "走访 刘建华 看看")  # 刘建华 lives in 李骁's grid
    assert "请写上走访的住户" in wechat.say(WANG, "走访")


def test_due_visits_are_reminded_once_a_day_and_overdue_ones_reach_the_leader(
    wechat, factory, domain, clock
):
    clock.advance(days=5)  # 张秀兰 (hardship, weekly) is due in 2 days: within the reminder lead
    assert send_visit_digests(factory, domain, clock()) == 1
    [reminder] = digests(factory, WANG)
    assert "【走访提醒】" in reminder and "张秀兰 3号楼2单元301 特困户" in reminder
    assert send_visit_digests(factory, domain, clock()) == 0  # once a day
    assert digests(factory, ZHAO) == []

    clock.advance(days=4)  # now two days overdue
    send_visit_digests(factory, domain, clock())
    [overdue] = digests(factory, ZHAO)
    assert (
        "【走访逾期】" in overdue
        and "张秀兰" in overdue
        and "已逾期2天" in overdue
        and "网格员王芳" in overdue
    )

    wechat.say(WANG, "走访 张秀兰 已上门")
    clock.advance(days=1)
    before = len(pushes(factory))
    send_visit_digests(factory, domain, clock())
    assert not any("张秀兰" in p.text for p in pushes(factory)[before:])


def test_digests_wait_for_the_morning(factory, domain, clock) -> None:
    clock.advance(days=5, hours=14)  # 00:00 in Shanghai
    assert send_visit_digests(factory, domain, clock()) == 0
    clock.advance(hours=8)
    assert send_visit_digests(factory, domain, clock()) == 1


def test_ordinary_households_are_due_quarterly(factory, domain, clock) -> None:
    clock.advance(days=80)
    send_visit_digests(factory, domain, clock())
    assert not any("刘建华" in text for text in digests(factory, LI))
    clock.advance(days=9)
    send_visit_digests(factory, domain, clock())
    assert any("刘建华" in text for text in digests(factory, LI))
