"""The daily ping never goes as a template: a subscription message the elder accepted, else a customer-service
message inside their 48-hour window, else the worker's call list. Sweep, webhook and dispatcher against the
fake WeChat, which refuses what WeChat refuses."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from bot.channels import build_messenger
from bot.dispatcher import dispatch_due
from bot.wechat_api import official_account_client
from config.settings import DispatcherSettings, Settings
from handlers.domain_settings import DomainSettings
from handlers.jobs.checkins import call_list_sweep, knock_sweep, ping_sweep, remind_sweep
from storage.db import transaction
from storage.models import AccountCapability, Building, CheckIn, OutboxMessage, Resident, SubscriptionConsent
from storage.windows import allowances, take_window_send
from tests.cli import run_in_process
from tests.integration.conftest import live_env, live_settings
from tests.integration.test_checkins import FIRST_DAY, LOCAL

SUB = "sub-checkin"
FIELDS = ("thing1", "time2", "thing3")
ZHANG, SUN, QUIET, WANG = "demo-resident-zhang", "demo-resident-sun", "o-elder-quiet", "demo-worker-wang"
POLICY = DispatcherSettings(interval_seconds=1, batch_size=50, max_attempts=3, backoff_seconds=10)


@pytest.fixture
def live_sub(tmp_path, fake_wechat) -> Settings:
    """Live settings with the check-in's subscription template, which the fake account has too."""
    fake_wechat.subscription_templates[SUB] = FIELDS
    return live_settings(tmp_path, fake_wechat, GRIDDESK_SUBSCRIPTIONS_CHECKIN_TEMPLATE_ID=SUB)


def at(clock, clock_time: str, day: int) -> datetime:
    """Move the clock to a local time `day` days after the first day; returns the new now."""
    hours, minutes = map(int, clock_time.split(":"))
    target = datetime.combine(FIRST_DAY + timedelta(days=day), time(hours, minutes), tzinfo=LOCAL)
    clock.advance(seconds=(target.astimezone(UTC) - clock.now).total_seconds())
    return clock()


def add_quiet_elder(factory, now: datetime) -> None:
    """周大爷 in 3号楼, pinged at 09:00, who follows the account but has not written in years."""
    with transaction(factory) as session:
        home = session.scalars(select(Building).where(Building.name == "3号楼")).one()
        session.add(
            Resident(
                openid=QUIET,
                name="周大爷",
                phone="13800000999",
                building=home,
                room="502",
                lives_alone=True,
                checkin_minute=540,
                created_at=now,
            )
        )


def pings_of(factory, kind: str = "checkin_ping") -> dict[str, OutboxMessage]:
    """The outbox rows of one ping kind, by recipient."""
    with transaction(factory) as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind))
        return {row.recipient: row for row in rows}


def sent_event_xml(openid: str, body: str, now: datetime) -> str:
    """subscribe_msg_sent_event as WeChat pushes it after a bizsend."""
    return (
        f"<xml><ToUserName>gh_fake</ToUserName><FromUserName>{openid}</FromUserName>"
        f"<CreateTime>{int(now.timestamp())}</CreateTime><MsgType>event</MsgType>"
        f"<Event>subscribe_msg_sent_event</Event>{body}</xml>"
    )


def checkin_status(factory, openid: str) -> str:
    with transaction(factory) as session:
        query = select(CheckIn.status).join(Resident, Resident.id == CheckIn.resident_id)
        return session.scalars(query.where(Resident.openid == openid)).one()


def consents(factory) -> list[tuple[str, str, str]]:
    with transaction(factory) as session:
        rows = session.scalars(select(SubscriptionConsent).order_by(SubscriptionConsent.template_id))
        return [(row.openid, row.template_id, row.status) for row in rows]


def test_each_ping_goes_by_subscription_or_window_and_the_rest_are_phoned_never_a_template(
    factory, clock, wechat, live_sub, fake_wechat
) -> None:
    add_quiet_elder(factory, clock())
    # 张秀兰 accepts the check-in's subscription in WeChat's popup (and refuses another notice).
    assert (
        wechat.reply(wechat.post_xml(fake_wechat.subscribe_popup(ZHANG, {SUB: True, "sub-news": False})))
        is None
    )
    assert consents(factory) == [(ZHANG, SUB, "accept"), (ZHANG, "sub-news", "reject")]
    with transaction(factory) as session:  # the popup is no message: it opened no window, counted no answer
        zhang = session.scalars(select(Resident).where(Resident.openid == ZHANG)).one()
        assert zhang.last_message_at is None
    # 孙桂英 wrote yesterday: her customer-service window is open.
    wechat.say(SUN, "你好")
    fake_wechat.user_wrote(SUN)

    domain = DomainSettings.of(live_sub)
    now = at(clock, "09:00", day=1)
    result = ping_sweep(factory, domain, now)
    assert (result.pinged, result.unreachable) == (2, 1)
    assert call_list_sweep(factory, domain, now).call_lists == 1
    pings = pings_of(factory)
    assert {openid: row.channel for openid, row in pings.items()} == {ZHANG: "subscription", SUN: "custom"}
    [call_list] = pings_of(factory, "checkin_call_list").values()
    assert call_list.recipient == WANG
    assert "周大爷 13800000999" in call_list.text and "48小时内没在公众号发过消息" in call_list.text

    messenger = build_messenger(live_sub, factory, clock)
    assert dispatch_due(factory, messenger, POLICY, now).sent == 3
    [to_zhang] = fake_wechat.sent_to(ZHANG)
    assert (to_zhang.api, to_zhang.payload["template_id"]) == ("subscription", SUB)
    assert to_zhang.payload["data"] == {
        "thing1": {"value": "今日平安问候"},
        "time2": {"value": "2026年11月24日 09:00"},
        "thing3": {"value": "回复1报平安,回复2需要帮助"},
    }
    [to_sun] = fake_wechat.sent_to(SUN)
    assert to_sun.api == "custom" and "回复 1 报平安" in to_sun.payload["text"]["content"]
    assert fake_wechat.sent_to(QUIET) == []
    # WeChat's report of the send is no answer from 张秀兰: her check-in still waits for one.
    report = (
        "<SubscribeMsgSentEvent><List><TemplateId>sub-checkin</TemplateId><MsgID>1</MsgID>"
        "<ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List></SubscribeMsgSentEvent>"
    )
    assert wechat.reply(wechat.post_xml(sent_event_xml(ZHANG, report, now))) is None
    assert checkin_status(factory, ZHANG) == "pinged"

    # Nobody answers: the reminder takes the same ways, and still no template to anyone.
    now = at(clock, "11:00", day=1)
    assert remind_sweep(factory, domain, now).reminded == 2
    assert dispatch_due(factory, messenger, POLICY, now).sent == 2
    assert [s.api for s in fake_wechat.sent_to(ZHANG)] == ["subscription", "subscription"]
    assert [s.api for s in fake_wechat.sent_to(SUN)] == ["custom", "custom"]
    elders = (ZHANG, SUN, QUIET)
    assert not [s for s in fake_wechat.sent if s.api == "template" and s.to in elders]


def test_a_refusal_in_settings_takes_the_elder_off_subscription_and_onto_the_call_list(
    factory, clock, wechat, live_sub, fake_wechat
) -> None:
    wechat.post_xml(fake_wechat.subscribe_popup(ZHANG, {SUB: True}))
    wechat.post_xml(fake_wechat.subscription_turned_off(ZHANG, SUB, created=int(clock().timestamp()) + 1))
    assert consents(factory) == [(ZHANG, SUB, "reject")]
    domain = DomainSettings.of(live_sub)
    now = at(clock, "09:00", day=1)
    assert ping_sweep(factory, domain, now).pinged == 0  # neither 张秀兰 nor 孙桂英 has a way in
    call_list_sweep(factory, domain, now)
    lists = pings_of(factory, "checkin_call_list")  # 王芳's, and 李骁's for 陈静 (off duty)
    assert "张秀兰" in lists[WANG].text and "孙桂英" in lists["demo-worker-li"].text


def test_wechat_refusing_the_chosen_channel_never_falls_back_to_a_template(
    factory, clock, wechat, live_sub, fake_wechat
) -> None:
    # GridDesk heard 张秀兰 accept, but WeChat says she refused (43101); 孙桂英's window closed at WeChat
    # before the ping went (45015). Both pings end undeliverable; the knock task still follows silence.
    wechat.post_xml(fake_wechat.subscribe_popup(ZHANG, {SUB: True}))
    fake_wechat.subscription_turned_off(ZHANG, SUB)  # the event never reached GridDesk
    wechat.say(SUN, "你好")
    fake_wechat.user_wrote(SUN, seconds_ago=49 * 3600)
    now = at(clock, "09:00", day=1)
    assert ping_sweep(factory, DomainSettings.of(live_sub), now).pinged == 2
    result = dispatch_due(factory, build_messenger(live_sub, factory, clock), POLICY, now)
    assert (result.sent, result.undeliverable) == (0, 2)
    pings = pings_of(factory)
    assert "43101" in (pings[ZHANG].last_error or "")
    assert "never goes as a template message" in (pings[SUN].last_error or "")
    assert fake_wechat.sent == []


def test_an_elder_wechat_says_no_longer_accepts_is_reached_another_way_the_next_day(
    factory, clock, wechat, live_sub, fake_wechat
) -> None:
    # 张秀兰 accepted, then turned the message off in WeChat; the event never reached GridDesk.
    wechat.post_xml(fake_wechat.subscribe_popup(ZHANG, {SUB: True}))
    fake_wechat.subscription_turned_off(ZHANG, SUB)
    domain, messenger = DomainSettings.of(live_sub), build_messenger(live_sub, factory, clock)
    now = at(clock, "09:00", day=1)
    assert ping_sweep(factory, domain, now).pinged == 1
    assert dispatch_due(factory, messenger, POLICY, now).undeliverable == 1
    assert consents(factory) == [(ZHANG, SUB, "reject")]  # WeChat's 43101, kept
    # The next morning nobody tries the subscription again: she has no window either, so 王芳 phones her.
    now = at(clock, "09:00", day=2)
    assert ping_sweep(factory, domain, now).pinged == 0
    call_list_sweep(factory, domain, now)
    assert "张秀兰" in pings_of(factory, "checkin_call_list")[WANG].text
    assert fake_wechat.sent_to(ZHANG) == []


def test_an_account_without_subscription_messages_is_learnt_once_and_pings_go_by_window_or_call_list(
    tmp_path, factory, clock, wechat, classifier, live_sub, fake_wechat
) -> None:
    # Neither a government-service (政务民生) nor a medical account: WeChat answers 48001 to bizsend.
    fake_wechat.subscription_messages = False
    for elder in (ZHANG, SUN):
        wechat.post_xml(fake_wechat.subscribe_popup(elder, {SUB: True}))
    wechat.say(SUN, "你好")  # 孙桂英's customer-service window is open as well
    domain, messenger = DomainSettings.of(live_sub), build_messenger(live_sub, factory, clock)
    now = at(clock, "09:00", day=1)
    assert ping_sweep(factory, domain, now).pinged == 2
    assert {openid: row.channel for openid, row in pings_of(factory).items()} == {
        ZHANG: "subscription",
        SUN: "subscription",
    }
    result = dispatch_due(factory, messenger, POLICY, now)
    # WeChat is asked once: 孙桂英's ping goes by her window, 张秀兰's fails (no window, never a template).
    assert (result.sent, result.undeliverable) == (1, 1)
    assert [(api, code) for api, _, code in fake_wechat.refused] == [("subscription", 48001)]
    assert [s.api for s in fake_wechat.sent_to(SUN)] == ["custom"] and fake_wechat.sent_to(ZHANG) == []
    assert "window is closed" in (pings_of(factory)[ZHANG].last_error or "")
    with transaction(factory) as session:
        [known] = session.scalars(select(AccountCapability)).all()
        assert (known.name, known.available, known.errcode) == ("subscription", False, 48001)
    status = run_in_process(
        live_env(tmp_path, fake_wechat, GRIDDESK_SUBSCRIPTIONS_CHECKIN_TEMPLATE_ID=SUB), "wechat", "status"
    )
    assert status.returncode == 0, status.stderr
    assert "subscription messages (订阅通知): unavailable: WeChat answered 48001" in status.stdout

    # Nothing is lost: 孙桂英 answers; 张秀兰's silence is followed as always, by a knock on her door.
    wechat.say(SUN, "1")
    now = at(clock, "11:00", day=1)
    reminders = remind_sweep(factory, domain, now)
    assert (reminders.reminded, reminders.silent_reminders) == (0, 1)
    now = at(clock, "13:00", day=1)
    assert knock_sweep(factory, domain, classifier, now).knocked == 1

    # The next morning no subscription message is queued: 孙桂英 by her window, 张秀兰 on 王芳's call list.
    now = at(clock, "09:00", day=2)
    assert ping_sweep(factory, domain, now).pinged == 1
    assert pings_of(factory)[SUN].channel == "custom"
    call_list_sweep(factory, domain, now)
    assert "张秀兰" in pings_of(factory, "checkin_call_list")[WANG].text
    assert dispatch_due(factory, messenger, POLICY, now).undeliverable == 0
    assert fake_wechat.calls["/cgi-bin/message/subscribe/bizsend"] == 1
    assert [s.api for s in fake_wechat.sent_to(SUN)] == ["custom", "custom"]
    elders = (ZHANG, SUN)
    assert not [s for s in fake_wechat.sent if s.api == "template" and s.to in elders]


def test_an_account_without_customer_service_messages_phones_the_elders_it_cannot_ping(
    tmp_path, factory, clock, wechat, fake_wechat
) -> None:
    # A personal-subject account: WeChat answers 48001 to every customer-service message.
    fake_wechat.customer_service = False
    settings = live_settings(tmp_path, fake_wechat)
    wechat.say(SUN, "你好")  # 孙桂英's window is open, but the account may not use it
    domain, messenger = DomainSettings.of(settings), build_messenger(settings, factory, clock)
    now = at(clock, "09:00", day=1)
    assert ping_sweep(factory, domain, now).pinged == 1
    assert dispatch_due(factory, messenger, POLICY, now).undeliverable == 1
    assert [(api, code) for api, _, code in fake_wechat.refused] == [("custom", 48001)]
    # The next morning she is on the call list, not pinged into a refusal: WeChat is not asked again.
    now = at(clock, "09:00", day=2)
    assert ping_sweep(factory, domain, now).pinged == 0
    call_list_sweep(factory, domain, now)
    assert "孙桂英" in pings_of(factory, "checkin_call_list")["demo-worker-li"].text
    assert len(fake_wechat.refused) == 1


def test_customer_service_declared_off_puts_window_elders_on_the_call_list_from_the_first_day(
    tmp_path, factory, clock, wechat, fake_wechat
) -> None:
    settings = live_settings(tmp_path, fake_wechat, GRIDDESK_DELIVERY_CUSTOMER_SERVICE_MESSAGES="off")
    wechat.say(SUN, "你好")
    domain = DomainSettings.of(settings)
    now = at(clock, "09:00", day=1)
    assert ping_sweep(factory, domain, now).pinged == 0
    call_list_sweep(factory, domain, now)
    assert "孙桂英" in pings_of(factory, "checkin_call_list")["demo-worker-li"].text


def test_a_ping_counts_among_the_window_s_five_sends_and_none_goes_past_them(
    tmp_path, factory, clock, wechat, fake_wechat
) -> None:
    settings = live_settings(tmp_path, fake_wechat)
    wechat.say(SUN, "你好")
    fake_wechat.user_wrote(SUN)
    now = at(clock, "09:00", day=1)
    for _ in range(4):  # four updates on her tickets went as customer-service messages already
        assert take_window_send(factory, SUN, now)
    domain, messenger = DomainSettings.of(settings), build_messenger(settings, factory, clock)
    assert ping_sweep(factory, domain, now).pinged == 1
    assert dispatch_due(factory, messenger, POLICY, now).sent == 1  # the fifth send
    with transaction(factory) as session:
        assert allowances(session, SUN).sends_left(now) == 0
    # She does not answer: the reminder would be a sixth, which WeChat refuses (45047), so it is not sent
    # and her silence is followed by the knock as for any unanswered ping.
    now = at(clock, "11:00", day=1)
    assert remind_sweep(factory, domain, now).reminded == 1
    result = dispatch_due(factory, messenger, POLICY, now)
    assert (result.sent, result.undeliverable) == (0, 1)
    assert "no customer-service send left" in (pings_of(factory, "checkin_reminder")[SUN].last_error or "")
    assert fake_wechat.refused == [] and len(fake_wechat.sent_to(SUN)) == 1


@pytest.mark.parametrize(
    ("data", "errcode"),
    [
        ({"thing1": "今日平安问候", "time2": "2026年11月24日 09:00", "thing3": "回复1报平安"}, 0),
        ({"thing1": "今日平安问候", "time2": "2026年11月24日 09:00", "thing3": "x" * 21}, 47003),
        ({"thing1": "今日平安问候", "time2": "明天上午", "thing3": "回复1报平安"}, 47003),
        ({"thing1": "今日平安问候\n请回复", "time2": "09:00", "thing3": "回复1报平安"}, 47003),
        ({"thing1": "今日平安问候", "time2": "09:00"}, 47003),
    ],
)
def test_the_fake_refuses_subscription_values_wechat_refuses(
    factory, live_sub, fake_wechat, data: dict[str, str], errcode: int
) -> None:
    fake_wechat.subscribe_popup(ZHANG, {SUB: True})
    client = official_account_client(live_sub, factory)
    payload = {"touser": ZHANG, "template_id": SUB, "data": {k: {"value": v} for k, v in data.items()}}
    if errcode == 0:
        assert client.post("message/subscribe/bizsend", data=payload)["errcode"] == 0
        return
    with pytest.raises(WeChatClientException) as refused:
        client.post("message/subscribe/bizsend", data=payload)
    assert refused.value.errcode == errcode


def test_the_fake_refuses_a_user_who_did_not_accept_and_an_unknown_template(
    factory, live_sub, fake_wechat
) -> None:
    client = official_account_client(live_sub, factory)
    data = {"thing1": {"value": "今日平安问候"}, "time2": {"value": "09:00"}, "thing3": {"value": "回复1"}}
    for template_id, errcode in ((SUB, 43101), ("sub-unknown", 40037)):
        with pytest.raises(WeChatClientException) as refused:
            client.post(
                "message/subscribe/bizsend", data={"touser": SUN, "template_id": template_id, "data": data}
            )
        assert refused.value.errcode == errcode
