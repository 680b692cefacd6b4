"""Conversations through the real webhook: resident says X -> reply says Y -> the worker got push Z."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from storage.db import transaction
from storage.models import InboundMessage, Resident, Worker
from tests.conftest import pushes, tickets

ZHANG = "demo-resident-zhang"  # 3号楼, grid 1: worker 王芳, leader 赵建国
LIU = "demo-resident-liu"  # 5号楼, grid 2: worker 李骁
SUN = "demo-resident-sun"  # 7号楼, grid 3: worker 陈静 is off duty, backup 李骁
NEWCOMER = "o-newcomer-0001"  # not in the register


@pytest.mark.parametrize(
    ("text", "category", "hint"),
    [
        ("卫生间水管漏水了", "repair", "总水阀"),
        ("帮忙交一下水电费", "bill", "户号"),
        ("降压药没有了", "medicine", "药名"),
        ("老人不舒服,想去医院看看,没人陪", "health", "120"),
        ("楼上邻居太吵了", "dispute", "协调"),
        ("低保怎么办理", "inquiry", ""),
    ],
)
def test_each_request_opens_a_ticket_pushed_to_the_grid_worker(wechat, factory, text, category, hint) -> None:
    reply = wechat.say(ZHANG, text)
    assert "工单号 #1" in reply and "网格员王芳" in reply and hint in reply
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.status, ticket.assignee.name) == (category, "assigned", "王芳")
    assert [e.kind for e in ticket.events] == ["opened", "assigned"]
    [push] = pushes(factory)
    assert push.recipient == "demo-worker-wang" and push.status == "pending"
    assert "#1" in push.text and "张秀兰" in push.text and "3号楼2单元301" in push.text and text in push.text
    assert "签收 1" in push.text


def test_utility_repairs_are_due_sooner_than_other_repairs(wechat, factory) -> None:
    wechat.say(ZHANG, "家里水管漏了")
    wechat.say(LIU, "电视机没信号了")
    water, tv = tickets(factory)
    assert (water.resolve_due_at - water.created_at).total_seconds() == 24 * 3600
    assert (tv.resolve_due_at - tv.created_at).total_seconds() == 72 * 3600
    assert water.priority == "high"


def test_emergency_tells_resident_what_to_do_and_pages_worker_and_leader(wechat, factory) -> None:
    reply = wechat.say(ZHANG, "我爸在卫生间摔倒了,站不起来")
    assert reply.startswith("请立即拨打120")
    assert "王芳" in reply and "赵建国" in reply and "#1" in reply
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.priority) == ("emergency", "urgent")
    assert (ticket.ack_due_at - ticket.created_at).total_seconds() == 5 * 60
    recipients = {p.recipient for p in pushes(factory)}
    assert recipients == {"demo-worker-wang", "demo-leader-zhao"}
    assert all("【紧急求助】" in p.text for p in pushes(factory))


@pytest.mark.parametrize(
    ("text", "number"),
    [("家里着火了", "119"), ("有人持刀伤人", "110"), ("燃气泄漏了,味道好大", "119"), ("我想自杀", "12356")],
)
def test_emergency_advice_fits_the_danger(wechat, text, number) -> None:
    assert number in wechat.say(LIU, text).splitlines()[0]


def test_traditional_characters_are_understood(wechat, factory) -> None:
    reply = wechat.say(ZHANG, "救命!我媽媽昏迷了叫不醒")
    assert "120" in reply
    assert tickets(factory)[0].category == "emergency"


def test_off_duty_worker_hands_the_ticket_to_the_backup(wechat, factory) -> None:
    reply = wechat.say(SUN, "马桶不下水")
    assert "网格员李骁" in reply
    [ticket] = tickets(factory)
    assert ticket.assignee.name == "李骁" and ticket.grid.code == "G3"
    [push] = pushes(factory)
    assert push.recipient == "demo-worker-li" and "陈静不在岗,由您AB岗代办" in push.text


def test_unbound_resident_still_gets_a_ticket_and_is_asked_for_the_address(wechat, factory) -> None:
    reply = wechat.say(NEWCOMER, "家里水管漏了")
    assert "#1" in reply and "社区值班台" in reply and "3号楼2单元301" in reply
    [ticket] = tickets(factory)
    assert ticket.grid is None and ticket.assignee.role == "community"
    assert [p.recipient for p in pushes(factory)] == ["demo-community-duty"]


def test_binding_moves_earlier_tickets_to_the_grid_worker(wechat, factory) -> None:
    wechat.say(NEWCOMER, "家里水管漏了")
    reply = wechat.say(NEWCOMER, "绑定 2号楼1单元402")
    assert "登记成功" in reply and "第一网格" in reply and "王芳" in reply and "#1" in reply
    [ticket] = tickets(factory)
    assert ticket.assignee.name == "王芳" and ticket.grid.code == "G1"
    assert pushes(factory)[-1].recipient == "demo-worker-wang"
    with transaction(factory) as session:
        resident = session.scalar(select(Resident).where(Resident.openid == NEWCOMER))
        assert resident.address == "2号楼1单元402"


def test_plain_address_in_chinese_numerals_binds(wechat, factory) -> None:
    reply = wechat.say(NEWCOMER, "五号楼二单元502")
    assert "登记成功" in reply and "5号楼2单元502" in reply and "李骁" in reply


def test_unknown_building_is_explained(wechat) -> None:
    reply = wechat.say(NEWCOMER, "绑定 99号楼1单元101")
    assert "没有找到“99号楼”" in reply


def test_binding_command_without_an_address_shows_the_format(wechat) -> None:
    assert "绑定 3号楼2单元301" in wechat.say(NEWCOMER, "绑定")


def test_emergency_from_an_unbound_resident_reaches_the_duty_desk(wechat, factory) -> None:
    reply = wechat.say(NEWCOMER, "老人昏迷了叫不醒")
    assert "120" in reply and "详细地址" in reply
    assert [p.recipient for p in pushes(factory)] == ["demo-community-duty"]


def test_my_tickets_lists_open_tickets_with_status(wechat) -> None:
    wechat.say(ZHANG, "下水道堵了")
    wechat.say(ZHANG, "帮我交下暖气费")
    reply = wechat.say(ZHANG, "我的工单")
    assert "2个" in reply and "#1 报修 · 已派单 · 网格员王芳" in reply and "#2 缴费" in reply


def test_my_tickets_when_there_are_none(wechat) -> None:
    assert "没有正在办理的工单" in wechat.say(LIU, "我的工单")


def test_thanks_gets_a_friendly_answer_and_no_ticket(wechat, factory) -> None:
    assert "不客气" in wechat.say(ZHANG, "谢谢你们")
    assert tickets(factory) == []


def test_asking_for_a_person_always_opens_a_ticket(wechat, factory) -> None:
    reply = wechat.say(ZHANG, "人工")
    assert "#1" in reply
    assert tickets(factory)[0].summary.startswith("居民请求人工联系")


def test_unrecognised_message_is_read_by_a_person(wechat, factory) -> None:
    reply = wechat.say(LIU, "我家的猫三天没回家了")
    assert "#1" in reply
    assert tickets(factory)[0].category in {"other", "emergency"}
    assert pushes(factory)


def test_voice_transcript_is_routed_like_text(wechat, factory) -> None:
    wechat.reply(wechat.post(ZHANG, "voice", MediaId="m-1", Format="amr", Recognition="喂,那个,电梯停了嘛"))
    [ticket] = tickets(factory)
    assert ticket.category == "repair"


def test_voice_without_transcript_still_opens_a_callback_ticket(wechat, factory) -> None:
    reply = wechat.reply(wechat.post(ZHANG, "voice", MediaId="media-voice-1", Format="amr", Recognition=""))
    assert "语音留言" in reply and "#1" in reply
    [ticket] = tickets(factory)
    assert ticket.kind == "voice" and "请回电" in ticket.summary
    with transaction(factory) as session:
        message = session.scalar(select(InboundMessage))
        assert (message.media_id, message.ticket_id) == ("media-voice-1", ticket.id)
    assert pushes(factory)[0].recipient == "demo-worker-wang"


@pytest.mark.parametrize(
    ("msg_type", "fields", "receipt"),
    [
        (
            "voice",
            {"MediaId": "voice-1", "Format": "amr", "Recognition": ""},
            "已收到您的语音留言,工单号 #1。",
        ),
        ("image", {"PicUrl": "http://x/p.jpg", "MediaId": "photo-1"}, "照片已收到,工单号 #1。"),
    ],
)
def test_a_voice_or_photo_without_words_is_acknowledged_once(wechat, msg_type, fields, receipt) -> None:
    reply = wechat.reply(wechat.post(ZHANG, msg_type, **fields))
    assert reply.splitlines()[0] == receipt
    assert reply.count("收到") == 1


def test_a_voice_after_a_menu_tap_names_what_it_is_about(wechat, factory) -> None:
    wechat.event(ZHANG, "CLICK", "MENU_REPAIR")
    reply = wechat.reply(wechat.post(ZHANG, "voice", MediaId="voice-1", Format="amr", Recognition=""))
    assert reply.startswith("已收到您的报修语音留言,工单号 #1。") and reply.count("收到") == 1
    assert tickets(factory)[0].category == "repair"


def test_photo_is_attached_to_the_latest_open_ticket(wechat, factory) -> None:
    wechat.say(ZHANG, "楼道过道顶部漏水,地上都是积水")
    reply = wechat.reply(wechat.post(ZHANG, "image", PicUrl="http://x/p.jpg", MediaId="photo-1"))
    assert "已附在工单 #1" in reply
    [ticket] = tickets(factory)
    assert [e.kind for e in ticket.events][-1] == "follow_up"
    assert "补充了一张照片" in pushes(factory)[-1].text
    with transaction(factory) as session:
        photo = session.scalar(select(InboundMessage).where(InboundMessage.msg_type == "image"))
        assert (photo.media_id, photo.ticket_id) == ("photo-1", 1)


def test_photo_without_an_open_ticket_opens_one(wechat, factory) -> None:
    reply = wechat.reply(wechat.post(LIU, "image", PicUrl="http://x/p.jpg", MediaId="photo-2"))
    assert "#1" in reply
    assert tickets(factory)[0].summary.startswith("图片留言")


def test_location_is_stored_and_passed_to_the_open_ticket(wechat, factory) -> None:
    wechat.say(ZHANG, "老人出门一天了还没回来,电话也打不通")
    reply = wechat.reply(
        wechat.post(
            ZHANG, "location", Location_X="39.9", Location_Y="116.4", Scale="15", Label="幸福里小区东门"
        )
    )
    assert "#1" in reply
    with transaction(factory) as session:
        spot = session.scalar(select(InboundMessage).where(InboundMessage.msg_type == "location"))
        assert (spot.latitude, spot.longitude, spot.label, spot.ticket_id) == (
            39.9,
            116.4,
            "幸福里小区东门",
            1,
        )
    assert "幸福里小区东门" in pushes(factory)[-1].text


def test_subscribe_welcomes_and_asks_for_the_address(wechat) -> None:
    reply = wechat.event(NEWCOMER, "subscribe")
    assert "欢迎关注" in reply and "3号楼2单元301" in reply


def test_unsubscribe_is_recorded_and_acknowledged_silently(wechat, factory) -> None:
    response = wechat.post(LIU, "event", Event="unsubscribe")
    assert response.get_data(as_text=True) == "success"
    with transaction(factory) as session:
        assert session.scalar(select(Resident.subscribed).where(Resident.openid == LIU)) is False


def test_menu_sos_opens_an_emergency_at_once(wechat, factory) -> None:
    reply = wechat.event(ZHANG, "CLICK", "MENU_SOS")
    assert "120" in reply and "110" in reply
    assert tickets(factory)[0].category == "emergency"
    assert {p.recipient for p in pushes(factory)} == {"demo-worker-wang", "demo-leader-zhao"}


def test_menu_tap_sets_the_category_of_the_next_message(wechat, factory) -> None:
    assert "哪里坏了" in wechat.event(ZHANG, "CLICK", "MENU_REPAIR")
    wechat.say(ZHANG, "厨房那个")
    assert tickets(factory)[0].category == "repair"


def test_menu_my_tickets(wechat) -> None:
    wechat.say(LIU, "空调不制冷")
    assert "#1 报修" in wechat.event(LIU, "CLICK", "MENU_MY_TICKETS")


def test_every_message_is_stored_and_linked_to_its_ticket(wechat, factory) -> None:
    wechat.say(ZHANG, "谢谢")
    wechat.say(ZHANG, "家里没有自来水了")
    with transaction(factory) as session:
        rows = list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        assert [(m.content, m.ticket_id) for m in rows] == [("谢谢", None), ("家里没有自来水了", 1)]
        assert all(m.reply for m in rows)


def test_with_nobody_on_duty_the_community_office_still_gets_the_ticket(wechat, factory) -> None:
    with transaction(factory) as session:
        session.execute(update(Worker).values(on_duty=False))
    reply = wechat.say(NEWCOMER, "家里水管漏了")
    assert "#1" in reply and "社区值班台(电话 010-12345678)" in reply
    [ticket] = tickets(factory)
    assert (ticket.status, ticket.assignee.name) == ("assigned", "社区值班台")
    assert [p.recipient for p in pushes(factory)] == ["demo-community-duty"]
