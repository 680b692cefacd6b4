"""A burst to one grid worker over WeCom: paced under WeCom's silent limits, folded into digests, none lost.

WeCom delivers at most 30 app messages a minute and 1,000 an hour to one member and drops the rest while
answering errcode 0; the fake WeChat does the same and keeps what it dropped, so these tests can count it.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import build_messenger
from bot.dispatcher import dispatch_due
from bot.dispatcher.pacing import digest_text
from bot.wechat_api import wecom_client
from config.settings import DispatcherSettings
from handlers.tickets.core import OPEN_STATUSES
from storage.db import transaction
from storage.models import Building, OutboxMessage, Resident, Worker
from storage.outbox import queue_push
from tests.conftest import tickets as all_tickets
from tests.fakewechat import WECOM_PREFIX, FakeWeChat
from tests.integration.conftest import dispatchers_side_by_side, live_env, live_settings
from tests.support import FakeClock

POLICY = DispatcherSettings(
    interval_seconds=2, batch_size=50, max_attempts=6, backoff_seconds=5, lease_seconds=60
)
WANG, ZHAO = "wang.fang", "zhao.jianguo"
STEP_SECONDS = 2  # the dispatcher's interval: one run per step, as the scheduler would run it
WECOM_GETTOKEN, WECOM_SEND = WECOM_PREFIX + "gettoken", WECOM_PREFIX + "message/send"
CORP = {"corpid": "ww0123456789abcdef", "corpsecret": "fake-corp-secret"}


def residents_of_building_3(factory: sessionmaker[Session], count: int, clock: FakeClock) -> list[str]:
    """`count` residents bound to 3号楼 (第一网格, 王芳's); returns their openids."""
    with transaction(factory) as session:
        building = session.scalars(select(Building).where(Building.name == "3号楼")).one()
        openids = [f"o-building3-{n:02d}" for n in range(count)]
        session.add_all(
            Resident(
                openid=openid,
                name=f"居民{n}",
                building_id=building.id,
                unit=str(1 + n % 4),
                room=f"{1 + n // 8}0{1 + n % 8}",
                created_at=clock(),
            )
            for n, openid in enumerate(openids)
        )
    return openids


def staff_on_wecom(factory: sessionmaker[Session], fake: FakeWeChat) -> None:
    """王芳 and her leader 赵建国 read their pushes in WeCom."""
    with transaction(factory) as session:
        for openid, userid in (("demo-worker-wang", WANG), ("demo-leader-zhao", ZHAO)):
            session.execute(update(Worker).where(Worker.openid == openid).values(wecom_userid=userid))
            fake.add_wecom_user(userid)


def wecom_text(fake: FakeWeChat, userid: str) -> list[str]:
    """What one member read in WeCom, message by message."""
    return [s.payload["text"]["content"] for s in fake.sent_to(userid) if s.api == "wecom"]


def rows_for(factory: sessionmaker[Session], openid: str) -> list[OutboxMessage]:
    """Every outbox row for the worker with this openid, oldest first."""
    with transaction(factory) as session:
        worker = session.scalars(select(Worker).where(Worker.openid == openid)).one()
        query = select(OutboxMessage).where(OutboxMessage.worker_id == worker.id).order_by(OutboxMessage.id)
        return list(session.scalars(query))


def test_a_power_cut_burst_of_50_tickets_reaches_the_worker_paced_folded_and_complete(
    tmp_path, wechat, factory, clock, fake_wechat, delivery_report
) -> None:
    settings = live_settings(tmp_path, fake_wechat)
    messenger = build_messenger(settings, factory, clock)
    staff_on_wecom(factory, fake_wechat)
    openids = residents_of_building_3(factory, 50, clock)
    # Fifty households report the power cut within 50 seconds; an elder falls in the dark at the 30th second.
    arrivals = {step: openids[2 * step : 2 * step + 2] for step in range(25)}
    emergency_step, emergency_runs = 15, []
    steps = 0
    while steps < 600:
        for openid in arrivals.get(steps, []):
            assert "工单" in (wechat.say(openid, "家里停电了,整栋楼都没电") or "")
        if steps == emergency_step:
            wechat.say("demo-resident-zhang", "我爸在卫生间摔倒了,站不起来")
        result = dispatch_due(factory, messenger, POLICY, clock())
        if steps == emergency_step:
            emergency_runs.append(result)
        steps += 1
        if steps > len(arrivals) and not any(
            r.status == "pending" for r in rows_for(factory, "demo-worker-wang")
        ):
            break
        clock.advance(seconds=STEP_SECONDS)
        fake_wechat.advance(STEP_SECONDS)

    rows = rows_for(factory, "demo-worker-wang")
    digests = {row.id: row for row in rows if row.kind == "digest"}
    folded = [row for row in rows if row.status == "folded"]
    single = [row for row in rows if row.kind != "digest" and row.status == "sent"]
    # Nothing lost: every push was sent on its own or folded into a digest that was sent; none twice.
    assert {row.status for row in rows} <= {"sent", "folded"}
    assert all(row.folded_into in digests and digests[row.folded_into].status == "sent" for row in folded)
    assert len(single) + len(folded) == len(rows) - len(digests)
    # Nothing WeCom would drop, and within both limits on the platform's own clock.
    read = wecom_text(fake_wechat, WANG)
    assert fake_wechat.dropped == []
    per_minute, per_hour = fake_wechat.wecom_peaks(WANG)
    assert per_minute <= POLICY.staff_per_minute < 30 and per_hour <= 1000
    assert len(read) == len(single) + len(digests)
    # Every ticket is findable in what the worker read: its own push, or its number in a digest.
    tickets = {row.ticket_id for row in rows if row.ticket_id is not None}
    shown = {int(n) for text in read for n in re.findall(r"#(\d+)", text)}
    unlisted = tickets - shown
    counted = sum(int(n) for text in read for n in re.findall(r"另有(\d+)张工单未列出", text))
    assert len(tickets) == 51 and len(unlisted) == counted
    # Those the digest only counts are open and held by her: the console's ticket list shows them.
    held = {ticket.id: ticket for ticket in all_tickets(factory) if ticket.id in unlisted}
    assert all(t.assignee.name == "王芳" and t.status in OPEN_STATUSES for t in held.values())
    assert len(held) == len(unlisted)
    assert all("我的工单" in text for text in read if text.startswith("【工单汇总】"))
    # The emergency went out in the run it arrived in, on its own, to the worker and the leader.
    [emergency] = [row for row in rows if row.kind == "emergency"]
    assert emergency.status == "sent" and emergency.sent_at == emergency.created_at
    assert emergency_runs[0].sent >= 2
    assert any(text.startswith("【紧急") for text in wecom_text(fake_wechat, ZHAO))
    delivery_report.append(
        f"power-cut burst: 51 tickets (one an emergency) to one worker over WeCom, "
        f"{steps * STEP_SECONDS} s simulated: {len(read)} pushes sent ({len(single)} single, "
        f"{len(digests)} digests carrying {len(folded)} items), most in any minute {per_minute} "
        f"(limit {POLICY.staff_per_minute}, WeCom 30), in any hour {per_hour}, "
        f"dropped by WeCom {len(fake_wechat.dropped)}, lost 0, emergency delayed 0 s"
    )


def test_past_the_budget_a_worker_push_waits_untried_and_the_emergency_keeps_its_share(
    factory, clock, live, fake_wechat
) -> None:
    messenger = build_messenger(live, factory, clock)
    staff_on_wecom(factory, fake_wechat)
    policy = DispatcherSettings(1, 50, 3, 10, 60, staff_per_minute=4, staff_per_hour=100, digest_after=10)
    with transaction(factory) as session:
        wang = session.scalars(select(Worker).where(Worker.openid == "demo-worker-wang")).one()
        for n in range(5):
            queue_push(session, clock(), kind="status", text=f"【工单进展】 #{n + 1} 居民已确认", worker=wang)
    result = dispatch_due(factory, messenger, policy, clock())
    assert (result.sent, result.paced) == (3, 2)  # routine pushes use three of the four a minute
    with transaction(factory) as session:
        wang = session.scalars(select(Worker).where(Worker.openid == "demo-worker-wang")).one()
        queue_push(session, clock(), kind="emergency", text="【紧急求助】 #9 老人摔倒", worker=wang)
    assert dispatch_due(factory, messenger, policy, clock()).sent == 1  # the fourth slot: the emergency's
    waiting = [row for row in rows_for(factory, "demo-worker-wang") if row.status == "pending"]
    assert len(waiting) == 2 and all(row.attempts == 0 for row in waiting)
    assert all(row.next_attempt_at >= clock() + timedelta(seconds=59) for row in waiting)
    clock.advance(minutes=2)
    fake_wechat.advance(120)
    assert dispatch_due(factory, messenger, policy, clock()).sent == 2
    assert len(wecom_text(fake_wechat, WANG)) == 6 and fake_wechat.dropped == []


def test_the_fake_wecom_drops_pushes_past_30_a_minute_silently(factory, clock, live, fake_wechat) -> None:
    client = wecom_client(live, factory)
    answers = [client.message.send_text(fake_wechat.agent_id, WANG, f"第{n}条") for n in range(35)]
    assert all(answer["errcode"] == 0 for answer in answers)
    assert (len(fake_wechat.sent_to(WANG)), len(fake_wechat.dropped)) == (30, 5)
    fake_wechat.advance(61)
    client.message.send_text(fake_wechat.agent_id, WANG, "一分钟后")
    assert len(fake_wechat.sent_to(WANG)) == 31


def test_two_dispatchers_share_one_budget_per_worker(tmp_path, factory, clock, fake_wechat) -> None:
    staff_on_wecom(factory, fake_wechat)
    with transaction(factory) as session:
        wang = session.scalars(select(Worker).where(Worker.openid == "demo-worker-wang")).one()
        for n in range(40):
            queue_push(session, clock(), kind="status", text=f"【工单进展】 #{n + 1} 已上门", worker=wang)
    # No folding here: the budget alone must hold, with two processes sending at once.
    policy = DispatcherSettings(1, 50, 3, 10, 60, staff_per_minute=20, staff_per_hour=600, digest_after=100)
    results = dispatchers_side_by_side(live_env(tmp_path, fake_wechat), clock, [policy])
    assert sum(r.sent for r in results) == 15 and sum(r.paced for r in results) == 25
    assert len(fake_wechat.sent_to(WANG)) == 15 and fake_wechat.dropped == []


def test_the_fake_wecom_delivers_at_most_1000_an_hour_to_one_member(fake_wechat) -> None:
    token = json.loads(fake_wechat.answer("GET", WECOM_GETTOKEN, CORP, b"").body)["access_token"]
    for n in range(1001):
        if n and n % 30 == 0:
            fake_wechat.advance(60)
        body = {
            "touser": WANG,
            "agentid": fake_wechat.agent_id,
            "msgtype": "text",
            "text": {"content": f"{n}"},
        }
        answer = fake_wechat.answer("POST", WECOM_SEND, {"access_token": token}, json.dumps(body).encode())
        assert json.loads(answer.body)["errcode"] == 0
    assert (len(fake_wechat.sent_to(WANG)), len(fake_wechat.dropped)) == (1000, 1)
    assert fake_wechat.wecom_peaks(WANG) == (30, 1000)


def test_a_digest_lists_new_tickets_by_grid_then_other_news_and_counts_what_does_not_fit(
    wechat, factory, clock
) -> None:
    wechat.say("demo-resident-zhang", "卫生间水管漏水了")  # #1, 第一网格
    wechat.say("demo-resident-liu", "帮忙交一下水电费")  # #2, 第二网格
    with transaction(factory) as session:
        rows = [
            OutboxMessage(kind="new_ticket", ticket_id=1),
            OutboxMessage(kind="reassigned", ticket_id=2),
            OutboxMessage(kind="follow_up", ticket_id=1),
            OutboxMessage(kind="follow_up", ticket_id=1),
            OutboxMessage(kind="visit_digest", ticket_id=None),
        ]
        text = digest_text(session, rows)
        crowded = digest_text(session, [OutboxMessage(kind="new_ticket", ticket_id=1)] * 3, listed_at_most=0)
    assert text.splitlines() == [
        "【工单汇总】5条新消息",
        "第一网格新增1张工单:#1",
        "第二网格新增1张工单:#2",
        "1张工单有新进展:#1",
        "其他通知1条",
        "回复“我的工单”或打开工作台查看。",
    ]
    assert crowded.splitlines()[1:3] == ["第一网格新增1张工单", "另有1张工单未列出"]
