"""Daily check-ins as elders, workers and families live them, through the real webhook with a moved clock."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import date

import pytest

from handlers.jobs.escalation import sweep
from tests.conftest import tickets
from tests.integration.test_checkins import CheckInDesk
from tests.support import WeChatServer

ZHANG, SUN = "demo-resident-zhang", "demo-resident-sun"
ZHANGWEI = "demo-family-zhangwei"
WANG, LI = "demo-worker-wang", "demo-worker-li"


@pytest.fixture
def desk(factory, settings, classifier, clock) -> CheckInDesk:
    """The check-in sweeps over the demo community."""
    return CheckInDesk(factory, settings, classifier, clock)


def pinged(desk: CheckInDesk) -> None:
    """The 09:00 ping of the second day has gone out; earlier pushes are set aside."""
    desk.at("09:00", day=1)
    assert desk.pings().pinged == 2
    desk.new_pushes()


def knocked(desk: CheckInDesk) -> None:
    """Ping, silence, reminder, silence: the 敲门 task is out (ticket #1 for 张秀兰)."""
    pinged(desk)
    desk.at("11:00", day=1)
    desk.reminders()
    desk.at("13:00", day=1)
    assert desk.knocks().knocked == 2
    desk.new_pushes()


def test_ping_answered_with_1_gets_a_warm_reply_and_nothing_else(desk, wechat: WeChatServer) -> None:
    pinged(desk)
    desk.at("09:05", day=1)
    assert wechat.say(ZHANG, "1") == "收到您的平安,谢谢您!祝您今天顺顺利利,有需要随时找我们。"
    row = desk.checkin(ZHANG, day=1)
    assert (row.status, row.answer, row.answered_at) == ("answered", "1", desk.clock())
    assert tickets(desk.factory) == []
    desk.at("11:00", day=1)
    assert desk.reminders().reminded == 1  # only 孙桂英, who has not answered
    assert [p.recipient for p in desk.new_pushes()] == [SUN]


@pytest.mark.parametrize("answer", ["好", "平安", "没事", "我很好!", "嗯,挺好的"])
def test_fine_in_words_is_an_answer_too(desk, wechat, answer: str) -> None:
    pinged(desk)
    assert "收到您的平安" in wechat.say(ZHANG, answer)
    assert desk.checkin(ZHANG, day=1).status == "answered"
    assert tickets(desk.factory) == []


def test_silence_then_a_knock_task_then_a_late_1_is_all_clear_for_everyone(desk, wechat) -> None:
    pinged(desk)
    desk.at("11:00", day=1)
    assert desk.reminders().reminded == 2
    desk.new_pushes()
    desk.at("13:00", day=1)
    desk.knocks()
    sent = desk.new_pushes()
    [task] = [p for p in sent if p.recipient == WANG]
    assert "今天未报平安" in task.text and "3号楼2单元301" in task.text and "13800000101" in task.text
    assert [p.kind for p in sent if p.recipient == ZHANGWEI] == ["family_alert"]

    desk.at("13:10", day=1)
    signed = wechat.say(WANG, "签收 1")
    assert "已签收工单 #1" in signed and "3号楼2单元301" in signed
    desk.new_pushes()

    desk.at("13:20", day=1)
    reply = wechat.say(ZHANG, "1")
    assert reply.startswith("收到您的平安,太好了!刚才没联系上您,网格员王芳正准备上门看看您")
    assert "您的家人也会收到您报平安的消息" in reply
    sent = desk.new_pushes()
    assert [(p.recipient, p.kind) for p in sent] == [
        (WANG, "checkin_all_clear"),
        (ZHANGWEI, "family_all_clear"),
    ]
    assert sent[0].text == "【已报平安】工单 #1:张秀兰13:20回复了平安问候,敲门任务已解除。辛苦了!"
    assert sent[1].text == "【平安】您的家人张秀兰13:20已回复报平安,请放心。谢谢您的关心!"
    knock = tickets(desk.factory)[0]
    assert (knock.status, knock.rating_requested_at) == ("closed", None)  # no rating for a knock task
    assert [e.kind for e in knock.events][-2:] == ["resolve", "close"]
    assert knock.events[-2].note == "老人已回复报平安,敲门任务解除"
    assert desk.checkin(ZHANG, day=1).status == "answered"
    assert "收到您的平安,谢谢您" in wechat.say(ZHANG, "1")  # a second "1" is just thanked
    assert desk.new_pushes() == []


def test_a_late_1_before_anyone_signed_tells_everyone_paged_so_far(desk, wechat) -> None:
    knocked(desk)
    desk.at("13:30", day=1)
    assert sweep(desk.factory, desk.domain, desk.classifier, desk.clock()).escalated == 2
    desk.new_pushes()
    wechat.say(ZHANG, "平安")
    told = [(p.recipient, p.kind) for p in desk.new_pushes()]
    assert told == [(WANG, "checkin_all_clear"), (LI, "checkin_all_clear"), (ZHANGWEI, "family_all_clear")]
    knock = tickets(desk.factory)[0]
    assert (knock.status, knock.acknowledged_at) == ("closed", None)  # nobody is credited with signing


def test_2_opens_a_health_ticket_for_the_worker_at_once(desk, wechat) -> None:
    pinged(desk)
    reply = wechat.say(ZHANG, "2")
    assert "已收到您的看病就医请求,工单号 #1" in reply and "网格员王芳" in reply
    [ticket] = tickets(desk.factory)
    assert (ticket.category, ticket.assignee.openid) == ("health", WANG)
    assert "独居老人回复平安问候“2”,需要帮助" in ticket.summary
    [push] = [p for p in desk.new_pushes() if p.recipient == WANG]
    assert push.text.startswith("【新工单 · 看病就医】 #1")
    row = desk.checkin(ZHANG, day=1)
    assert (row.status, row.ticket_id) == ("help", 1)
    desk.at("13:00", day=1)
    assert desk.reminders().reminded == 1 and desk.knocks().total == 0  # 孙桂英 only


@pytest.mark.parametrize("answer", ["不好", "帮忙", "不舒服", "今天不太舒服", "有点难受"])
def test_not_well_in_words_asks_for_help_too(desk, wechat, answer: str) -> None:
    pinged(desk)
    assert "工单号 #1" in wechat.say(ZHANG, answer)
    assert tickets(desk.factory)[0].category == "health"
    assert desk.checkin(ZHANG, day=1).status == "help"


@pytest.mark.parametrize("words", ["救命,我摔倒了", "身体不舒服,头晕"])
def test_a_cry_for_help_is_still_an_emergency(desk, wechat, words: str) -> None:
    pinged(desk)
    reply = wechat.say(ZHANG, words)
    assert reply.startswith("请立即拨打120急救电话!")
    [ticket] = tickets(desk.factory)
    assert ticket.category == "emergency"
    recipients = {p.recipient for p in desk.new_pushes()}
    assert {WANG, "demo-leader-zhao"} <= recipients
    assert desk.checkin(ZHANG, day=1).status == "help"


def test_any_message_that_day_counts_as_the_check_in(desk, wechat) -> None:
    pinged(desk)
    reply = wechat.say(ZHANG, "厨房水龙头坏了")
    assert "已收到您的报修请求" in reply
    row = desk.checkin(ZHANG, day=1)
    assert (row.status, row.answer) == ("answered", "厨房水龙头坏了")
    assert wechat.reply(wechat.post(SUN, "image", PicUrl="http://x/1.jpg", MediaId="m1"))
    assert desk.checkin(SUN, day=1).status == "answered"
    desk.at("15:00", day=1)
    assert desk.all_sweeps() == 0


@pytest.mark.parametrize(
    ("tap", "words", "category"),
    [
        (None, "降压药没有了,有点不舒服", "medicine"),
        (None, "家里水管漏了,帮帮我", "repair"),
        ("MENU_MEDICINE", "吃完了,帮帮我", "medicine"),
        ("MENU_REPAIR", "弄了好几天了,不太好", "repair"),
    ],
)
def test_a_request_of_another_kind_answers_the_ping_and_opens_its_own_ticket(
    desk, wechat, tap: str | None, words: str, category: str
) -> None:
    pinged(desk)
    if tap is not None:
        wechat.event(ZHANG, "CLICK", tap)  # the elder chose 买药 / 报修 in the menu, then wrote
    reply = wechat.say(ZHANG, words)
    [ticket] = tickets(desk.factory)
    assert (ticket.category, ticket.summary) == (category, words)
    assert "独居老人回复平安问候" not in reply and "看病就医" not in reply
    assert desk.checkin(ZHANG, day=1).status == "answered"
    desk.at("11:00", day=1)
    assert desk.reminders().reminded == 1  # only 孙桂英: 张秀兰 is alive and writing


def test_a_cry_for_help_after_a_menu_tap_is_still_an_emergency(desk, wechat) -> None:
    pinged(desk)
    wechat.event(ZHANG, "CLICK", "MENU_MEDICINE")
    assert wechat.say(ZHANG, "救命,我摔倒了").startswith("请立即拨打120")
    assert [t.category for t in tickets(desk.factory)] == ["emergency"]
    assert desk.checkin(ZHANG, day=1).status == "help"


def test_unfollowing_is_not_a_sign_of_life(desk, wechat) -> None:
    pinged(desk)
    wechat.event(ZHANG, "unsubscribe")
    assert desk.checkin(ZHANG, day=1).status == "pinged"


def test_a_message_during_a_long_ping_sweep_is_answered_before_the_sweep_ends(desk, wechat) -> None:
    desk = desk.sliced(1)  # 152 elders, 152 slices: the write lock is free between any two
    desk.add_elders(150)
    desk.at("09:00", day=1)
    sweep = threading.Thread(target=desk.pings)
    sweep.start()
    try:
        while desk.count_checkins() == 0 and sweep.is_alive():
            time.sleep(0.005)
        reply = wechat.say("demo-resident-liu", "楼道灯坏了")
        answered_with = desk.count_checkins()
    finally:
        sweep.join(timeout=120)
    assert "工单号 #1" in reply
    assert 0 < answered_with < 152  # answered while the sweep still had elders to ping
    assert desk.count_checkins() == 152
    pinged = Counter(p.recipient for p in desk.new_pushes() if p.kind == "checkin_ping")
    assert len(pinged) == 152 and set(pinged.values()) == {1}


def test_a_message_before_the_ping_does_not_cancel_it(desk, wechat) -> None:
    desk.at("08:00", day=1)
    wechat.say(ZHANG, "你好")
    desk.at("09:00", day=1)
    assert desk.pings().pinged == 2


def test_after_a_knock_task_other_news_goes_to_the_worker_holding_it(desk, wechat) -> None:
    knocked(desk)
    reply = wechat.say(ZHANG, "厨房水龙头坏了")
    assert "已收到您的报修请求,工单号 #3" in reply
    follow_up = [p for p in desk.new_pushes() if p.ticket_id == 1]
    assert [(p.recipient, p.kind) for p in follow_up] == [(WANG, "follow_up")]
    assert follow_up[0].text.startswith("【工单补充 #1】居民发来消息:“厨房水龙头坏了”。")
    assert tickets(desk.factory)[0].status == "assigned"  # only "I'm fine" calls the knock off
    assert desk.checkin(ZHANG, day=1).status == "missed"


def test_after_a_knock_task_2_says_help_is_on_the_way(desk, wechat) -> None:
    knocked(desk)
    reply = wechat.say(ZHANG, "2")
    assert reply.startswith("收到。网格员王芳(电话 13900000002)正在赶来看您,请稍等。")
    assert [p.kind for p in desk.new_pushes() if p.recipient == WANG] == ["follow_up"]
    assert len(tickets(desk.factory)) == 2  # no second ticket: the knock task is the help


def test_when_the_worker_settles_the_knock_the_family_hears_the_outcome(desk, wechat) -> None:
    knocked(desk)
    wechat.say(WANG, "签收 1")
    wechat.say(WANG, "办结 1 老人在家睡着了,没听见手机,一切安好")
    desk.new_pushes()
    desk.at("14:00", day=1)
    assert desk.knocks().visited == 1
    [result] = [p for p in desk.new_pushes() if p.recipient == ZHANGWEI]
    assert result.kind == "family_visit_result"
    assert result.text == (
        "【敲门结果】您的家人张秀兰今天未报平安,网格员王芳(电话 13900000002)已上门处理:"
        "老人在家睡着了,没听见手机,一切安好。如有疑问请直接联系网格员。"
    )
    assert desk.knocks().total == 0
    assert desk.checkin(ZHANG, day=1).status == "visited"


def test_1_answers_the_check_in_when_it_came_after_the_rating_request(desk, wechat) -> None:
    wechat.say(ZHANG, "下水道堵了")
    wechat.say(WANG, "办结 1 已疏通")  # asks 张秀兰 to rate: 1 满意
    pinged(desk)  # the next morning's ping is the newer prompt
    assert "收到您的平安" in wechat.say(ZHANG, "1")
    ticket = tickets(desk.factory)[0]
    assert (ticket.status, ticket.rating) == ("resolved", None)
    assert desk.checkin(ZHANG, day=1).status == "answered"


def test_1_rates_the_ticket_when_the_rating_request_came_after_the_ping(desk, wechat) -> None:
    pinged(desk)
    desk.at("09:10", day=1)
    wechat.say(ZHANG, "下水道堵了")  # this already counts as today's check-in
    wechat.say(WANG, "办结 1 已疏通")
    desk.at("09:30", day=1)
    assert "感谢您的评价" in wechat.say(ZHANG, "1")
    ticket = tickets(desk.factory)[0]
    assert (ticket.status, ticket.rating) == ("closed", 1)
    assert desk.checkin(ZHANG, day=1).status == "answered"


def test_2_after_a_newer_rating_request_is_a_rating_not_a_cry_for_help(desk, wechat) -> None:
    pinged(desk)
    desk.at("10:00", day=1)
    wechat.say(WANG, "上班")  # harmless: a worker command does not touch check-ins
    wechat.say(ZHANG, "下水道堵了")
    wechat.say(WANG, "办结 1 已疏通")
    assert "感谢您的评价" in wechat.say(ZHANG, "2")
    assert [t.category for t in tickets(desk.factory)] == ["repair"]
    assert tickets(desk.factory)[0].rating == 2


def test_the_check_in_day_and_time_are_local_not_utc(desk, wechat) -> None:
    desk.set_resident(ZHANG, checkin_minute=7 * 60 + 30)  # 07:30 in Shanghai is 23:30 UTC the day before
    desk.at("07:29", day=1)
    assert desk.pings().total == 0
    desk.at("07:30", day=1)
    assert desk.pings().pinged == 1
    assert desk.checkin(ZHANG, day=1).day == date(2026, 11, 24)
    assert desk.clock().date() == date(2026, 11, 23)
    assert "收到您的平安" in wechat.say(ZHANG, "1")
