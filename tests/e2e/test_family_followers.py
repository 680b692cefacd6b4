"""Family members who follow their elder on the Official Account, through the real webhook and the sweeps."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.db import transaction
from storage.models import FamilyCode, FamilyFollower, OutboxMessage, TicketEvent
from tests.cli import run_in_process
from tests.conftest import command_env, pushes, tickets
from tests.e2e.test_checkin_conversations import knocked
from tests.integration.test_checkins import CheckInDesk
from tests.support import WeChatServer

ZHANG, WANG = "demo-resident-zhang", "demo-worker-wang"
DAUGHTER, SON = "o-family-daughter", "o-family-son"
CODE = re.compile(r"家属码:([A-Z2-9]{8})")


@pytest.fixture
def desk(factory, settings, classifier, clock) -> CheckInDesk:
    """The check-in sweeps over the demo community."""
    return CheckInDesk(factory, settings, classifier, clock)


def family_code(wechat: WeChatServer, relation: str = "") -> str:
    """王芳 asks for a family code for 张秀兰 (for her daughter, say); the code her reply shows."""
    reply = wechat.say(WANG, f"家属码 3号楼2单元301 {relation}")
    assert reply is not None
    found = CODE.search(reply)
    assert found is not None, reply
    return found.group(1)


def follows(wechat: WeChatServer, openid: str, relation: str = "") -> str:
    """A family member follows 张秀兰 with a fresh code from her worker; their reply."""
    reply = wechat.say(openid, f"关注 {family_code(wechat, relation)}")
    assert reply is not None
    return reply


def test_a_family_member_binds_with_the_workers_code_and_the_elder_is_told(desk, wechat) -> None:
    reply = wechat.say(WANG, "家属码 3号楼2单元301")
    assert "张秀兰的家属码:" in reply and "24小时内有效,只能用一次" in reply and "发送“关注" in reply
    code = CODE.search(reply).group(1)
    desk.new_pushes()

    bound = wechat.say(DAUGHTER, f"关注 {code}")
    assert bound.startswith("绑定成功!您已关注家人张秀兰的平安问候。")
    assert "我来联系" in bound and "取消关注家人" in bound
    [told] = desk.new_pushes()
    assert (told.recipient, told.kind) == (ZHANG, "family_followed")
    assert told.text.startswith("【家属关注】您的一位家人已用家属码关注您的平安问候")
    with transaction(desk.factory) as session:
        [stored] = session.scalars(select(FamilyCode)).all()
        assert code not in stored.code_hash and stored.used_at == desk.clock()  # only its hash is kept
        assert len(session.scalars(select(FamilyFollower)).all()) == 1


def test_a_code_already_used_or_expired_is_refused(desk, wechat, clock) -> None:
    code = family_code(wechat)
    assert wechat.say(DAUGHTER, f"关注 {code}").startswith("绑定成功")
    assert wechat.say(SON, f"关注 {code}").startswith("家属码无效、已使用或已过期")
    assert wechat.say(DAUGHTER, f"关注 {code}").startswith("家属码无效")  # spent, even for its user

    late = family_code(wechat)
    clock.advance(hours=24, minutes=1)
    assert wechat.say(SON, f"关注 {late}").startswith("家属码无效、已使用或已过期")
    assert wechat.say(SON, "关注 ABCD2345").startswith("家属码无效")
    with transaction(desk.factory) as session:
        assert len(session.scalars(select(FamilyFollower)).all()) == 1


def test_a_code_also_works_sent_as_bind_or_bare(desk, wechat) -> None:
    assert wechat.say(DAUGHTER, f"绑定 {family_code(wechat)}").startswith("绑定成功!您已关注家人张秀兰")
    assert wechat.say(SON, family_code(wechat).lower()).startswith("绑定成功!您已关注家人张秀兰")


def test_a_fifth_follower_is_refused(desk, wechat) -> None:
    codes = [family_code(wechat) for _ in range(5)]
    for number, code in enumerate(codes[:4]):
        assert wechat.say(f"o-family-{number}", f"关注 {code}").startswith("绑定成功")
    refused = wechat.say("o-family-4", f"关注 {codes[4]}")
    assert refused == "张秀兰已有4位家属关注,最多4位。请联系网格员,先解除一位再绑定。"
    assert wechat.say(WANG, "家属码 3号楼2单元301").startswith("张秀兰已有4位家属关注(最多4位)")
    with transaction(desk.factory) as session:
        assert len(session.scalars(select(FamilyFollower)).all()) == 4


def test_the_family_member_hears_of_a_missed_check_in_takes_the_call_and_gets_the_all_clear(
    desk, wechat
) -> None:
    follows(wechat, DAUGHTER, "女儿")
    knocked(desk)  # the 敲门 task for 张秀兰 is #1 (its pushes set aside: look them up)
    alerts = [p for p in _pushes(desk) if p.recipient == DAUGHTER]
    assert [p.kind for p in alerts] == ["family_alert"]
    assert "【平安提醒】您的家人张秀兰" in alerts[0].text and "网格员王芳" in alerts[0].text

    desk.at("13:05", day=1)
    reply = wechat.say(DAUGHTER, "我来联系")
    assert reply.startswith("好的,谢谢您!已告诉网格员王芳,由您联系张秀兰。")
    [told] = desk.new_pushes()
    assert (told.recipient, told.kind, told.ticket_id) == (WANG, "family_contact", 1)
    assert told.text.startswith("【家属联系 #1】张秀兰的家属(女儿)回复“我来联系”,会自己联系老人。")
    knock = tickets(desk.factory)[0]
    assert knock.status not in ("resolved", "closed", "cancelled")  # the worker decides, not the family
    noted = knock.events[-1]
    assert (noted.kind, noted.actor) == ("family_contact", "家属(女儿)")

    desk.at("13:20", day=1)
    assert "您的家人也会收到您报平安的消息" in wechat.say(ZHANG, "1")
    clear = [p for p in desk.new_pushes() if p.recipient == DAUGHTER]
    assert [(p.kind, p.text) for p in clear] == [
        ("family_all_clear", "【平安】您的家人张秀兰13:20已回复报平安,请放心。谢谢您的关心!")
    ]


def test_the_family_member_gets_the_knock_outcome_in_the_workers_words(desk, wechat) -> None:
    follows(wechat, DAUGHTER)
    knocked(desk)
    desk.at("13:40", day=1)
    wechat.say(WANG, "签收 1")
    wechat.say(WANG, "办结 1 已上门,老人在睡觉,一切正常")
    desk.new_pushes()
    desk.knocks()
    [outcome] = [p for p in desk.new_pushes() if p.recipient == DAUGHTER]
    assert outcome.kind == "family_visit_result"
    assert outcome.text.startswith("【敲门结果】您的家人张秀兰") and "老人在睡觉,一切正常。" in outcome.text


def test_i_will_call_with_nothing_missed_is_answered_and_changes_nothing(desk, wechat) -> None:
    follows(wechat, DAUGHTER)
    desk.new_pushes()
    assert wechat.say(DAUGHTER, "我来联系") == "谢谢您!您关注的家人目前都已报平安,没有需要联系的提醒。"
    assert desk.new_pushes() == [] and tickets(desk.factory) == []


def test_the_family_member_unfollows_and_hears_nothing_more(desk, wechat) -> None:
    follows(wechat, DAUGHTER)
    desk.new_pushes()
    assert wechat.say(DAUGHTER, "我的家人") == "您正在关注张秀兰的平安问候。回复“取消关注家人”可解除。"
    assert wechat.say(DAUGHTER, "取消关注家人") == "已取消关注张秀兰的平安问候,今后不再收到相关提醒。"
    [told] = desk.new_pushes()
    assert (told.recipient, told.kind) == (ZHANG, "family_unfollowed")
    knocked(desk)
    assert [p for p in _pushes(desk) if p.recipient == DAUGHTER and p.kind == "family_alert"] == []
    assert wechat.say(DAUGHTER, "取消关注家人") == "您目前没有关注家人的平安问候。"


def test_the_elder_lists_and_removes_a_follower_who_is_told(desk, wechat) -> None:
    follows(wechat, DAUGHTER, "女儿")
    follows(wechat, SON)
    desk.new_pushes()
    listed = wechat.say(ZHANG, "我的家属")
    assert listed.startswith("有2位家属关注您的平安问候:\n1. 女儿(11月23日起)\n2. 微信家属(11月23日起)")
    assert "解除家属 1" in listed
    assert wechat.say(ZHANG, "解除家属").startswith("您有2位家属关注,请写上序号")
    assert wechat.say(ZHANG, "解除家属 1") == "已解除第1位家属的关注。"
    [told] = desk.new_pushes()
    assert (told.recipient, told.kind) == (DAUGHTER, "family_unfollowed")
    assert "您对张秀兰平安问候的关注已由张秀兰本人解除" in told.text
    assert wechat.say(ZHANG, "我的家属").startswith("有1位家属关注您的平安问候")


def test_the_worker_removes_a_follower(desk, wechat) -> None:
    follows(wechat, DAUGHTER, "女儿")
    follows(wechat, SON, "儿子")
    desk.new_pushes()
    asked = wechat.say(WANG, "解除家属 3号楼2单元301")
    assert asked == "张秀兰的家属关注:1. 女儿、2. 儿子。请写上序号,例如“解除家属 3号楼2单元301 1”。"
    assert wechat.say(WANG, "解除家属 3号楼2单元301 2") == "已解除第2位家属的关注。"
    elder, son = desk.new_pushes()
    assert son.recipient == SON and "已由社区工作人员解除" in son.text
    assert elder.recipient == ZHANG
    assert elder.text == "【家属关注】社区工作人员已解除您的家人(儿子)对您平安问候的关注。"
    assert wechat.say(ZHANG, "我的家属").startswith("有1位家属关注您的平安问候:\n1. 女儿(")


def test_workers_act_only_on_elders_in_their_grids(desk, wechat) -> None:
    for command in ("家属码 3号楼2单元301", "解除家属 3号楼2单元301"):
        refused = wechat.say("demo-worker-li", command)  # 李骁 looks after 4-6号楼
        assert refused.startswith("在您负责的网格里没有找到“3号楼2单元301”")
    with transaction(desk.factory) as session:
        assert session.scalars(select(FamilyCode)).all() == []


def test_an_emergency_typed_by_a_follower_is_still_an_emergency(desk, wechat) -> None:
    follows(wechat, DAUGHTER)
    knocked(desk)
    reply = wechat.say(DAUGHTER, "我来联系,我妈摔倒了,救命")
    assert reply.startswith("请立即拨打120急救电话!")
    emergency = [t for t in tickets(desk.factory) if t.category == "emergency"]
    assert len(emergency) == 1
    with transaction(desk.factory) as session:
        noted = session.scalars(select(TicketEvent).where(TicketEvent.kind == "family_contact")).all()
        assert noted == []  # the emergency path, not the 我来联系 note


def test_the_office_makes_a_family_code_on_the_command_line(desk, wechat, tmp_path: Path) -> None:
    env = command_env(tmp_path / "griddesk.db")  # the database the webhook under test uses
    address = ("--address", "3号楼2单元301")
    made = run_in_process(env, "residents", "family-code", *address, "--relation", "儿子", "--hours", "2")
    assert made.returncode == 0, made.stderr
    assert "张秀兰的家属码:" in made.stdout and "(给儿子),2小时内有效" in made.stdout
    assert wechat.say(SON, f"关注 {CODE.search(made.stdout).group(1)}").startswith("绑定成功")
    assert wechat.say(ZHANG, "我的家属").startswith("有1位家属关注您的平安问候:\n1. 儿子(")
    refused = run_in_process(env, "residents", "family-code", "--address", "99号楼101")
    assert (refused.returncode, refused.stderr) == (
        2,
        "cannot make a family code: no building 99号楼 in the community\n",
    )


def _pushes(desk: CheckInDesk) -> list[OutboxMessage]:
    """Every push queued so far."""
    return pushes(desk.factory)


def test_forgetting_the_elder_or_the_relative_ends_the_following(desk, wechat, tmp_path: Path) -> None:
    follows(wechat, DAUGHTER)
    follows(wechat, SON)
    spare = family_code(wechat)
    env = command_env(tmp_path / "griddesk.db")
    forgot = run_in_process(env, "resident", "forget", SON, "--yes", "--by", "周敏")
    assert forgot.returncode == 0, forgot.stderr
    assert wechat.say(ZHANG, "我的家属").startswith("有1位家属关注您的平安问候")
    forgot = run_in_process(env, "resident", "forget", ZHANG, "--yes", "--by", "周敏")
    assert forgot.returncode == 0, forgot.stderr
    with transaction(desk.factory) as session:
        assert session.scalars(select(FamilyFollower)).all() == []
        assert session.scalars(select(FamilyCode)).all() == []
    assert wechat.say(DAUGHTER, f"关注 {spare}").startswith("家属码无效")
    assert wechat.say(DAUGHTER, "取消关注家人") == "您目前没有关注家人的平安问候。"


def test_scanning_the_family_qr_code_binds_whether_following_already_or_not(desk, wechat) -> None:
    reply = wechat.event(DAUGHTER, "subscribe", f"qrscene_family:{family_code(wechat, '女儿')}")
    assert reply.startswith("欢迎关注") and "绑定成功!您已关注家人张秀兰的平安问候。" in reply
    assert "您还没有登记住址" not in reply  # a relative is not asked for an address
    wechat.event(SON, "subscribe")
    assert wechat.event(SON, "SCAN", f"family:{family_code(wechat)}").startswith("绑定成功!")
    assert wechat.event("o-family-other", "SCAN", "family:ABCD2345").startswith("家属码无效")
    assert wechat.say(ZHANG, "我的家属").startswith("有2位家属关注您的平安问候:\n1. 女儿(")
