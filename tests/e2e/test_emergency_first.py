"""Emergency first, for every sender in every state; possible emergencies; residents pressing; 改类."""

from __future__ import annotations

from datetime import timedelta

from handlers.jobs.escalation import sweep
from handlers.tickets.urgency import SAFETY_LINE
from run import main
from tests.conftest import pushes, tickets
from tests.e2e.test_checkin_conversations import desk, pinged  # noqa: F401  (the fixture and its helper)

ZHANG, LIU = "demo-resident-zhang", "demo-resident-liu"  # grid G1 (王芳, leader 赵建国), grid G2 (李骁)
WANG, ZHAO, DUTY = "demo-worker-wang", "demo-leader-zhao", "demo-community-duty"
LI = "demo-worker-li"


def recipients(factory, after: int = 0) -> list[str]:
    return [p.recipient for p in pushes(factory)[after:]]


def test_a_worker_crying_for_help_gets_the_emergency_path_not_the_command_list(wechat, factory) -> None:
    reply = wechat.say(WANG, "救命!家里着火了")
    assert reply.startswith("请立即拨打119")
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.kind, ticket.priority) == ("emergency", "fire", "urgent")
    assert DUTY in recipients(factory)  # the worker's home is not bound to a grid: the duty desk is paged


def test_a_workers_command_about_an_emergency_is_still_a_command(wechat, factory) -> None:
    wechat.say(ZHANG, "我爸在卫生间摔倒了,站不起来")
    wechat.say(WANG, "签收 1")
    assert "工单 #1 已办结" in wechat.say(WANG, "办结 1 老人摔倒了已送医院")
    assert [t.status for t in tickets(factory)] == ["resolved"]


def test_an_elder_answering_the_ping_with_a_fall_is_an_emergency_and_a_sign_of_life(desk, wechat) -> None:  # noqa: F811
    pinged(desk)
    reply = wechat.say(ZHANG, "刚起床在卫生间滑了一跤 腿疼得动不了")
    assert reply.startswith("请立即拨打120")
    [ticket] = tickets(desk.factory)
    assert ticket.category == "emergency"
    assert {WANG, ZHAO} <= {p.recipient for p in desk.new_pushes()}
    assert desk.checkin(ZHANG, day=1).status == "help"


def test_a_flooding_senders_first_emergency_pages_and_later_ones_are_filed_quietly(
    wechat, factory, clock
) -> None:
    for n in range(25):
        wechat.say(ZHANG, f"水管还在漏水 {n}")
        clock.advance(seconds=1)
    before = len(pushes(factory))
    reply = wechat.say(ZHANG, "救命 厨房着火了")
    assert reply.startswith("请立即拨打119")
    emergency = [t for t in tickets(factory) if t.category == "emergency"]
    assert len(emergency) == 1
    assert {WANG, ZHAO} <= set(recipients(factory, before))
    paged = len(pushes(factory))
    again = wechat.say(ZHANG, "救命啊 火越来越大")
    assert again.startswith("请立即拨打119") and f"#{emergency[0].id}" in again
    assert len(pushes(factory)) == paged  # filed under the open emergency, nobody paged twice a second
    assert len([t for t in tickets(factory) if t.category == "emergency"]) == 1


def test_a_possible_emergency_gets_the_safety_line_and_the_worker_ten_minutes(
    wechat, factory, domain, classifier, clock
) -> None:
    # (A lone resident's "我一个人在家 好害怕 怎么办" is an emergency since the round of batches 26-28:
    # fear voiced by someone alone, no cause given, docs/routing.md. This one names nobody alone: the tier's.)
    reply = wechat.say(ZHANG, "我好害怕 有人吗")
    assert reply.splitlines()[0] == SAFETY_LINE
    assert "网格员王芳" in reply
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.kind, ticket.priority) == ("other", "possible_emergency", "urgent")
    assert ticket.ack_due_at - ticket.created_at == timedelta(minutes=10)
    [push] = pushes(factory)
    assert push.recipient == WANG and push.text.startswith("【可能紧急")  # the leader is not paged
    clock.advance(minutes=11)
    sweep(factory, domain, classifier, clock())
    assert tickets(factory)[0].escalation_level > 0  # unsigned after 10 minutes: it climbs the ladder


def test_a_resident_pressing_an_open_ticket_raises_it_once(wechat, factory, clock) -> None:
    wechat.say(LIU, "马桶不下水")
    [ticket] = tickets(factory)
    assert ticket.priority == "high" and ticket.ack_due_at - ticket.created_at == timedelta(hours=2)
    clock.advance(minutes=30)
    reply = wechat.say(LIU, "急 快点来")
    assert "已催促网格员李骁" in reply and SAFETY_LINE in reply
    [ticket] = tickets(factory)
    assert ticket.priority == "urgent"
    assert ticket.ack_due_at == ticket.updated_at + timedelta(minutes=10)
    pressed = [p for p in pushes(factory) if p.text.startswith("【居民催促】")]
    assert len(pressed) == 1 and pressed[0].recipient == "demo-worker-li"
    wechat.say(LIU, "快点啊")
    assert len([p for p in pushes(factory) if p.text.startswith("【居民催促】")]) == 1
    assert len(tickets(factory)) == 1


def test_a_leader_recategorises_a_ticket_to_emergency_and_everyone_is_paged(
    wechat, factory, settings, capsys, monkeypatch
) -> None:
    wechat.say(ZHANG, "我妈最近老是忘事 老张 13912345678")
    [ticket] = tickets(factory)
    assert ticket.category == "other"
    assert "只有网格长" in wechat.say(WANG, "改类 1 紧急求助")
    assert "请写上新的类别" in wechat.say(ZHAO, "改类 1 着急")
    before = len(pushes(factory))
    assert "已把工单 #1 改为紧急求助" in wechat.say(ZHAO, "改类 1 紧急求助")
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.priority) == ("emergency", "urgent")
    assert ticket.events[-1].kind == "recategorise" and ticket.events[-1].note == "留言→紧急求助"
    new = pushes(factory)[before:]
    assert {p.recipient for p in new if p.text.startswith("【紧急求助】")} == {WANG, ZHAO}
    assert any(p.recipient == ZHANG and "120" in p.text for p in new)
    assert "已经是“紧急求助”" in wechat.say(ZHAO, "改类 1 紧急")
    capsys.readouterr()
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", settings.database_url)
    assert main(["routing", "misses"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.split("\t")[1] == "emergency" and "我妈最近老是忘事" in line
    assert "13912345678" not in line  # the export is masked
    assert main(["routing", "misses", "--since", "2000-01-01"]) == 0
    assert capsys.readouterr().out.strip() == line
    assert main(["routing", "misses", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""


def test_a_misheard_transcript_and_cantonese_are_read_as_the_danger_meant(wechat, factory) -> None:
    # A speech recogniser's 点题 for 电梯 and 新章病 for 心脏病; 唔郁 is Cantonese for "does not move".
    assert wechat.say(ZHANG, "点题关里面了 我妈有新章病").startswith("请不要强行扒门")
    assert wechat.say(LIU, "阿公唔应人 唔郁 点算").startswith("请立即拨打120")
    kinds = [(t.category, t.kind) for t in tickets(factory)]
    assert kinds == [("emergency", "trapped"), ("emergency", "medical")]
    assert {WANG, LI} <= set(recipients(factory))  # each grid's worker paged


def test_a_farewell_with_no_word_of_danger_is_an_emergency(wechat, factory) -> None:
    reply = wechat.say(ZHANG, "我的狗以后拜托你们找个人养吧 存折放在抽屉里了 别找我")
    assert reply.startswith("请立即拨打110或120")
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.kind) == ("emergency", "suicide")
    assert {WANG, ZHAO} <= set(recipients(factory))


def test_a_danger_already_dealt_with_is_thanks_not_an_emergency(wechat, factory) -> None:
    wechat.say(ZHANG, "上次煤气泄漏修好了 师傅人很好 谢谢你们")
    assert not [t for t in tickets(factory) if t.category == "emergency"]
    assert not recipients(factory)


def test_a_parent_who_answers_no_calls_told_from_afar_is_an_emergency(wechat, factory) -> None:
    reply = wechat.say(ZHANG, "我在上海上班 我妈一个人住 从早上到现在打了二十几个电话都不接 麻烦去看看她")
    assert reply.startswith("请立即拨打120")
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.priority) == ("emergency", "urgent")
    assert {WANG, ZHAO} <= set(recipients(factory))


def test_an_everyday_request_with_an_address_a_name_and_a_phone_is_no_emergency(wechat, factory) -> None:
    wechat.say(LIU, "我住五号楼一单元五零二 卫生间水管漏了 找刘建华 电话一三八一二三四五六七八")
    [ticket] = tickets(factory)
    assert ticket.category == "repair"
    assert ZHAO not in recipients(factory)  # the leader is paged for emergencies only


def test_a_fall_written_in_hokkien_is_an_emergency(wechat, factory) -> None:
    # 阮 is "my", 佇 "at", 跋倒 "fell", 毋 "not": a Minnan speaker's message, read as the Mandarin meant.
    reply = wechat.say(ZHANG, "阮阿公佇浴間跋倒 毋會振動")
    assert reply.startswith("请立即拨打120")
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.kind) == ("emergency", "medical")
    assert {WANG, ZHAO} <= set(recipients(factory))


def test_a_scam_under_way_is_an_emergency_but_a_call_asked_about_is_not(wechat, factory) -> None:
    reply = wechat.say(LIU, "我妈现在在银行柜台 电话里有人指挥她往安全账户转钱 我在外地拦不住")
    assert reply.startswith("请先确保自身安全,立即拨打110")
    wechat.say(ZHANG, "接到电话说我医保卡被冻结了 要我转钱 是不是骗子")
    scam, asked = tickets(factory)
    assert (scam.category, scam.kind) == ("emergency", "police")
    assert asked.category == "inquiry"
