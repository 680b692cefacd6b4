"""One sender flooding the Official Account is throttled alone: kept and merged, never dropped."""

from __future__ import annotations

from sqlalchemy import select

from storage.db import transaction
from storage.models import InboundMessage
from tests.conftest import pushes, tickets

ZHANG = "demo-resident-zhang"  # 3号楼, grid 1: worker 王芳
LIU = "demo-resident-liu"  # 5号楼, grid 2: worker 李骁
LIMIT = 20  # config/griddesk.toml [throttle] messages_per_minute


def messages(factory, openid: str) -> list[InboundMessage]:
    with transaction(factory) as session:
        query = select(InboundMessage).where(InboundMessage.openid == openid).order_by(InboundMessage.id)
        return list(session.scalars(query))


def test_a_flooding_sender_is_merged_into_their_ticket_while_others_are_served(
    wechat, factory, clock
) -> None:
    first = wechat.say(ZHANG, "卫生间水管漏水了")
    assert "工单号 #1" in first
    replies = []
    for n in range(1, 40):
        replies.append(wechat.say(ZHANG, f"水管还在漏水 {n}"))
        clock.advance(seconds=1)
        if n % 10 == 0:  # a neighbour writing in the middle of the flood is served as usual
            assert "#2" in wechat.say(LIU, f"楼道灯坏了 {n}")
    handled = replies[: LIMIT - 1]
    throttled = replies[LIMIT - 1 :]
    assert all("#1" in reply for reply in handled)  # repeats go to the open ticket, as always
    assert "消息较多" in throttled[0] and "#1" in throttled[0]
    assert all(reply is None for reply in throttled[1:])  # told once, not once per message
    stored = messages(factory, ZHANG)
    assert len(stored) == 40  # nothing dropped
    assert [m.status for m in stored].count("throttled") == len(throttled)
    assert {m.ticket_id for m in stored} == {1}
    zhang_ticket, *liu_tickets = tickets(factory)
    assert zhang_ticket.resident.openid == ZHANG and len(liu_tickets) == 1  # Liu's repeats joined his own
    merged = [e for e in zhang_ticket.events if e.note and e.note.startswith("(消息过多,已合并)")]
    assert len(merged) == len(throttled)
    to_wang = [p for p in pushes(factory) if p.recipient == "demo-worker-wang"]
    # The new ticket, one push per repeat before the flood, and one "messages merged" notice: no more.
    assert len(to_wang) == 1 + (LIMIT - 1) + 1
    assert "消息较多" in to_wang[-1].text


def test_after_a_quiet_minute_the_sender_is_served_normally_again(wechat, factory, clock) -> None:
    for n in range(LIMIT + 5):
        wechat.say(ZHANG, f"你好 {n}")
    clock.advance(minutes=2)
    reply = wechat.say(ZHANG, "降压药没有了")
    assert "工单号" in reply and "药名" in reply
    assert messages(factory, ZHANG)[-1].status == "handled"


def test_a_flood_with_no_open_ticket_opens_one_for_a_person_to_read(wechat, factory) -> None:
    for n in range(LIMIT):
        wechat.say(ZHANG, f"你好 {n}")
    assert tickets(factory) == []  # greetings open nothing
    reply = wechat.say(ZHANG, "在吗在吗")
    assert "消息较多" in reply
    [ticket] = tickets(factory)
    assert ticket.category == "other" and "在吗在吗" in ticket.summary and ticket.assignee.name == "王芳"
    wechat.say(ZHANG, "[再次]")
    assert len(tickets(factory)) == 1 and messages(factory, ZHANG)[-1].ticket_id == ticket.id


def test_a_first_cry_for_help_inside_a_flood_is_still_an_emergency(wechat, factory) -> None:
    for n in range(LIMIT + 3):
        wechat.say(ZHANG, f"你好 {n}")
    reply = wechat.say(ZHANG, "着火了!快救命")
    assert reply.startswith("请立即拨打119")
    emergency = [t for t in tickets(factory) if t.category == "emergency"]
    assert len(emergency) == 1
    assert {p.recipient for p in pushes(factory) if "【紧急求助】" in p.text} == {
        "demo-worker-wang",
        "demo-leader-zhao",
    }
