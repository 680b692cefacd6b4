"""Tickets carried to the end over WeChat (受理, 派单, 签收, 办理, 办结, 回访) and every way off that path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from handlers.people.invites import create_invite
from storage.db import transaction
from storage.models import Ticket, Worker
from tests.conftest import pushes, tickets
from tests.support import WeChatServer

ZHANG, LIU = "demo-resident-zhang", "demo-resident-liu"  # grid G1 (王芳), grid G2 (李骁)
WANG, LI, ZHAO, DUTY = "demo-worker-wang", "demo-worker-li", "demo-leader-zhao", "demo-community-duty"


def invite(factory, clock, **kwargs) -> str:
    with transaction(factory) as session:
        return create_invite(session, clock(), **kwargs).code


def pushes_to(factory, openid: str) -> list[str]:
    return [p.text for p in pushes(factory) if p.recipient == openid]


def ticket(factory, number: int = 1) -> Ticket:
    return next(t for t in tickets(factory) if t.id == number)


def test_the_whole_loop_from_binding_to_a_happy_resident(wechat: WeChatServer, factory, clock) -> None:
    code = invite(
        factory,
        clock,
        name="周敏",
        role="worker",
        grid_codes=("G1",),
        backup="李骁",
        phone="13900000009",
        replace=True,
    )
    bound = wechat.say("o-zhoumin", f"绑定 {code}")
    assert "绑定成功" in bound and "周敏" in bound and "第一网格" in bound

    assert "网格员周敏" in wechat.say(ZHANG, "卫生间水管漏水了")
    assert "【新工单 · 报修】 #1" in pushes_to(factory, "o-zhoumin")[0]

    signed = wechat.say("o-zhoumin", "签收 1")
    assert "已签收工单 #1" in signed and "张秀兰" in signed and "3号楼2单元301" in signed
    assert (
        "已由网格员周敏签收" in pushes_to(factory, ZHANG)[-1]
        and "13900000009" in pushes_to(factory, ZHANG)[-1]
    )

    assert "已记录" in wechat.say("o-zhoumin", "进度 1 已联系物业,下午来换阀门")
    assert "有新进展:已联系物业,下午来换阀门" in pushes_to(factory, ZHANG)[-1]

    assert "已请居民评价" in wechat.say("o-zhoumin", "办结 1 阀门已更换")
    rating_request = pushes_to(factory, ZHANG)[-1]
    assert "已办结:阀门已更换" in rating_request and "回复 1 满意,2 基本满意,3 不满意" in rating_request

    assert "感谢您的评价" in wechat.say(ZHANG, "1")
    done = ticket(factory)
    assert (done.status, done.rating) == ("closed", 1)
    assert [e.kind for e in done.events] == [
        "opened",
        "assigned",
        "acknowledge",
        "progress",
        "resolve",
        "close",
    ]
    assert [e.actor for e in done.events][2:5] == ["周敏", "周敏", "周敏"]
    assert "评价:满意" in pushes_to(factory, "o-zhoumin")[-1]


def test_rating_in_words(wechat, factory) -> None:
    wechat.say(ZHANG, "下水道堵了")
    wechat.say(WANG, "办结 1 已疏通")
    wechat.say(ZHANG, "基本满意")
    assert (ticket(factory).status, ticket(factory).rating) == ("closed", 2)


def test_unsatisfied_reopens_to_the_same_worker_and_tells_the_leader(wechat, factory) -> None:
    wechat.say(ZHANG, "下水道堵了")
    wechat.say(WANG, "签收 1")
    wechat.say(WANG, "办结 1 已疏通")
    reply = wechat.say(ZHANG, "不满意,还是堵")
    assert "很抱歉" in reply and "王芳" in reply
    reopened = ticket(factory)
    assert (reopened.status, reopened.assignee.name, reopened.acknowledged_at) == ("reopened", "王芳", None)
    assert "【重新办理】" in pushes_to(factory, WANG)[-1]
    assert "不满意" in pushes_to(factory, ZHAO)[-1]
    assert "已签收" in wechat.say(WANG, "签收 1")
    wechat.say(WANG, "办结 1 换了整段下水管")
    wechat.say(ZHANG, "满意")
    assert ticket(factory).status == "closed"


def test_send_back_goes_to_the_grid_leader_for_redispatch(wechat, factory) -> None:
    wechat.say(ZHANG, "小区车位被人装了地锁")
    reply = wechat.say(WANG, "退单 1 需要城管处理")
    assert "网格长赵建国" in reply
    returned = ticket(factory)
    assert (returned.status, returned.assignee.name) == ("assigned", "赵建国")
    assert "被网格员王芳退回:需要城管处理" in pushes_to(factory, ZHAO)[-1]
    assert "退单原因" in wechat.say(WANG, "退单 1")


def test_a_leader_reassigns_and_everyone_hears_of_it(wechat, factory) -> None:
    wechat.say(ZHANG, "空调不制冷")
    assert "已把工单 #1 转派给网格员李骁" in wechat.say(ZHAO, "转派 1 李骁")
    moved = ticket(factory)
    assert (moved.status, moved.assignee.name) == ("assigned", "李骁")
    assert "【转派工单 · 报修】 #1" in pushes_to(factory, LI)[-1]
    assert "转派给李骁" in pushes_to(factory, WANG)[-1]
    assert "已转由网格员李骁负责" in pushes_to(factory, ZHANG)[-1]
    assert "已签收" in wechat.say(LI, "签收 1")


def test_only_leaders_and_offices_may_reassign(wechat, factory) -> None:
    wechat.say(ZHANG, "空调不制冷")
    assert "只有网格长" in wechat.say(WANG, "转派 1 李骁")
    assert "没有找到名为“张三”" in wechat.say(ZHAO, "转派 1 张三")
    assert ticket(factory).assignee.name == "王芳"


def test_extension_before_the_deadline(wechat, factory, clock) -> None:
    wechat.say(ZHANG, "电视机没信号了")
    before = ticket(factory).resolve_due_at
    reply = wechat.say(WANG, "延期 1 24 等配件")
    assert "已延期" in reply
    assert ticket(factory).resolve_due_at - before == timedelta(hours=24)
    assert "延期24小时:等配件" in pushes_to(factory, ZHAO)[-1]
    assert "原因:等配件" in pushes_to(factory, ZHANG)[-1]
    assert "延期小时数" in wechat.say(WANG, "延期 1 很久 等配件")
    assert "延期小时数" in wechat.say(WANG, "延期 1 24")
    clock.advance(hours=200)
    assert "已超过办结期限" in wechat.say(WANG, "延期 1 24 还在等")


def test_off_duty_hands_new_tickets_to_the_backup_and_back(wechat, factory) -> None:
    assert "AB岗李骁" in wechat.say(WANG, "下班")
    assert "网格员李骁" in wechat.say(ZHANG, "马桶不下水")
    assert ticket(factory).assignee.name == "李骁"
    assert "1个未签收工单已转回" in wechat.say(WANG, "上班")
    assert ticket(factory).assignee.name == "王芳"
    assert "网格员王芳" in wechat.say(ZHANG, "帮我交下暖气费")


def test_off_duty_without_a_backup_is_warned(wechat, factory, clock) -> None:
    code = invite(factory, clock, name="周敏", role="worker", grid_codes=("G1",), replace=True)
    wechat.say("o-zhoumin", f"绑定 {code}")
    assert "没有在岗的AB岗" in wechat.say("o-zhoumin", "下班")
    assert "网格长赵建国" in wechat.say(ZHANG, "马桶不下水")


def test_resident_cancels_before_it_is_resolved(wechat, factory) -> None:
    wechat.say(ZHANG, "能帮忙预约体检吗")
    assert "已取消" in wechat.say(ZHANG, "取消 1")
    assert ticket(factory).status == "cancelled"
    assert "居民已取消工单 #1" in pushes_to(factory, WANG)[-1]
    assert "不能取消" in wechat.say(ZHANG, "取消 1")
    assert "不能签收" in wechat.say(WANG, "签收 1")


def test_resident_cannot_cancel_someone_elses_ticket(wechat, factory) -> None:
    wechat.say(ZHANG, "能帮忙预约体检吗")
    assert "没有找到您的工单 #1" in wechat.say(LIU, "取消 1")
    assert ticket(factory).status == "assigned"


def test_cancel_without_a_number_when_there_is_one_open_ticket(wechat, factory) -> None:
    wechat.say(ZHANG, "能帮忙预约体检吗")
    assert "已取消" in wechat.say(ZHANG, "取消")


def test_a_resident_cannot_run_worker_commands(wechat, factory) -> None:
    wechat.say(ZHANG, "空调不制冷")
    reply = wechat.say(LIU, "签收 1")
    assert "网格员使用的工单指令" in reply
    assert ticket(factory).status == "assigned" and len(tickets(factory)) == 1


def test_a_worker_cannot_touch_another_grids_ticket(wechat, factory) -> None:
    wechat.say(ZHANG, "空调不制冷")
    assert "不属于您负责的网格" in wechat.say(LI, "签收 1")
    assert "不属于您负责的网格" in wechat.say(LI, "办结 1 好了")
    assert ticket(factory).status == "assigned"
    assert "已签收" in wechat.say(ZHAO, "签收 1")  # the leader of all three grids may
    assert "已记录" in wechat.say(DUTY, "进度 1 社区已知悉")  # the community office may act on every grid


def test_used_expired_and_unknown_codes_bind_nobody(wechat, factory, clock) -> None:
    code = invite(factory, clock, name="周敏", role="worker", grid_codes=("G1",), replace=True)
    assert "绑定成功" in wechat.say("o-zhoumin", f"绑定 {code}")
    assert "无效" in wechat.say("o-intruder", f"绑定 {code}")
    stale = invite(factory, clock, name="吴刚", role="worker", grid_codes=("G2",), replace=True)
    clock.advance(hours=25)
    assert "无效" in wechat.say("o-wugang", f"绑定 {stale}")
    assert "无效" in wechat.say("o-guess", "绑定 ABCDEFGH")
    with transaction(factory) as session:
        bound = set(session.scalars(select(Worker.openid).where(Worker.openid.like("o-%"))))
    assert bound == {"o-zhoumin"}
    assert "网格员使用的工单指令" in wechat.say("o-intruder", "签收 1")


def test_commands_tolerate_spaces_fullwidth_digits_and_traditional_characters(wechat, factory) -> None:
    wechat.say(ZHANG, "空调不制冷")
    assert "已签收" in wechat.say(WANG, "  簽收   １ ")
    assert "已记录" in wechat.say(WANG, "進度１ 明天上午上門")


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("签收 99", "没有找到工单 #99"),
        ("签收", "请写上工单号"),
        ("进度 1", "请写上进展"),
        ("随便说说", "工单指令"),
    ],
)
def test_worker_mistakes_get_a_clear_answer(wechat, command: str, answer: str) -> None:
    wechat.say(ZHANG, "空调不制冷")
    assert answer in wechat.say(WANG, command)


def test_wrong_state_is_refused_with_the_reason(wechat, factory) -> None:
    wechat.say(ZHANG, "空调不制冷")
    wechat.say(WANG, "办结 1 修好了")
    wechat.say(ZHANG, "1")
    assert "当前状态是“已关闭”,不能办结" in wechat.say(WANG, "办结 1 再办一次")


def test_worker_lists_their_open_tickets(wechat) -> None:
    wechat.say(ZHANG, "空调不制冷")
    wechat.say(ZHANG, "帮我交下暖气费")
    reply = wechat.say(WANG, "我的工单")
    assert "2个未办结" in reply and "#1 报修" in reply and "3号楼2单元301" in reply and "前签收" in reply
    assert "没有未办结" in wechat.say(LI, "我的工单")


def test_a_repeat_about_the_same_thing_joins_the_open_ticket(wechat, factory) -> None:
    wechat.say(ZHANG, "家里水管漏了")
    reply = wechat.say(ZHANG, "水管还在漏,地上都是水")
    assert "已在工单 #1 中办理" in reply
    assert len(tickets(factory)) == 1
    assert "再次来信:水管还在漏,地上都是水" in pushes_to(factory, WANG)[-1]
    wechat.say(ZHANG, "屋里跳闸了")
    assert len(tickets(factory)) == 2  # power is another matter than water


def test_a_second_call_for_help_repages_the_open_emergency(wechat, factory) -> None:
    wechat.say(ZHANG, "救命")
    reply = wechat.say(ZHANG, "救命!快来人")
    assert "#1" in reply and "120" in reply
    assert len(tickets(factory)) == 1
    assert (
        "【紧急·再次求助】" in pushes_to(factory, WANG)[-1]
        and "【紧急·再次求助】" in pushes_to(factory, ZHAO)[-1]
    )
