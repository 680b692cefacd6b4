"""Pushes reach real phones: customer-service and template messages, WeCom, and every way WeChat says no.

Each test runs GridDesk's dispatcher and WeChat messenger against the fake WeChat on loopback.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from wechatpy import parse_message
from wechatpy.exceptions import WeChatClientException

from bot.channels import build_messenger
from bot.dispatcher import OUTAGE_AFTER, DispatchResult, dispatch_due
from bot.inbound_record import record_from_wechat
from bot.messenger import Messenger
from bot.simulator import message_xml
from bot.wechat_api import official_account_client
from config.settings import DispatcherSettings, Settings
from handlers.context import TemplateReceipt
from handlers.tickets.undelivered import record_template_result
from storage.db import make_engine, make_session_factory, transaction
from storage.models import OutboxMessage, Resident, Worker
from storage.outbox import queue_push
from tests.conftest import pushes
from tests.integration.conftest import live_settings
from tests.support import FakeClock

POLICY = DispatcherSettings(
    interval_seconds=1, batch_size=50, max_attempts=3, backoff_seconds=10, lease_seconds=60
)
WANG, ZHAO, DUTY, ZHANG = "demo-worker-wang", "demo-leader-zhao", "demo-community-duty", "demo-resident-zhang"


def receipt_in(xml: str) -> TemplateReceipt | None:
    """What the webhook reads from a TEMPLATESENDJOBFINISH event's XML (None from any other message)."""
    return record_from_wechat(parse_message(xml), xml).incoming.receipt


def dispatch(factory: sessionmaker[Session], messenger: Messenger, clock: FakeClock) -> DispatchResult:
    """One dispatcher run at the clock's time."""
    return dispatch_due(factory, messenger, POLICY, clock())


def queue(factory: sessionmaker[Session], now: datetime, openid: str, text: str, kind: str = "status") -> int:
    """Queue a push to the worker or resident with this openid; returns the outbox id."""
    with transaction(factory) as session:
        worker = session.scalar(select(Worker).where(Worker.openid == openid))
        resident = None if worker else session.scalar(select(Resident).where(Resident.openid == openid))
        return queue_push(session, now, kind=kind, text=text, worker=worker, resident=resident)


def resident_wrote(factory: sessionmaker[Session], openid: str, at: datetime) -> None:
    """Record that a resident wrote to the account at this time (what the webhook does)."""
    with transaction(factory) as session:
        session.execute(update(Resident).where(Resident.openid == openid).values(last_message_at=at))


def row(factory: sessionmaker[Session], outbox_id: int) -> OutboxMessage:
    """One outbox row, fresh from the database."""
    with transaction(factory) as session:
        return session.get_one(OutboxMessage, outbox_id)


def test_a_worker_who_never_wrote_gets_a_template_message(wechat, factory, clock, live, fake_wechat) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    assert dispatch(factory, build_messenger(live, factory, clock), clock).sent == 1
    [sent] = fake_wechat.sent
    assert (sent.api, sent.to, sent.payload["template_id"]) == ("template", WANG, "tpl-new-ticket")
    fields = sent.payload["data"]
    assert fields["keyword1"]["value"] == "【新工单 · 报修】 #1"
    assert fields["keyword2"]["value"] == "张秀兰 13800000101"
    assert fields["keyword3"]["value"] == "3号楼2单元301"
    assert all(len(field["value"]) <= 20 and "\n" not in field["value"] for field in fields.values())
    assert fake_wechat.hidden_template_parts == []  # nothing put where WeChat no longer shows it
    [pushed] = pushes(factory)
    assert (pushed.status, pushed.channel, pushed.wechat_msgid) == ("sent", "template", str(sent.msgid))


def test_people_who_wrote_within_48_hours_get_customer_service_messages(
    wechat, factory, clock, live, fake_wechat
) -> None:
    messenger = build_messenger(live, factory, clock)
    wechat.say(ZHANG, "卫生间水管漏水了")
    fake_wechat.user_wrote(ZHANG)
    dispatch(factory, messenger, clock)
    clock.advance(hours=47)
    fake_wechat.user_wrote(WANG)
    wechat.say(WANG, "签收 1")  # the worker wrote: their window opens; the resident's is 47 h old
    assert dispatch(factory, messenger, clock).sent == 1
    told = fake_wechat.sent[-1]
    assert (told.api, told.to) == ("custom", ZHANG)
    assert "已由" in told.payload["text"]["content"] and "签收" in told.payload["text"]["content"]
    queue(factory, clock(), WANG, "【工单补充 #1】居民发来照片", kind="follow_up")
    dispatch(factory, messenger, clock)
    assert (fake_wechat.sent[-1].api, fake_wechat.sent[-1].to) == ("custom", WANG)
    assert [p.channel for p in pushes(factory)] == ["template", "custom", "custom"]


def test_outside_the_window_wechat_says_45015_and_a_template_goes_instead(
    factory, clock, live, fake_wechat
) -> None:
    resident_wrote(factory, ZHANG, clock() - timedelta(hours=1))  # we think the window is open; WeChat not
    outbox_id = queue(factory, clock(), ZHANG, "您的工单 #1 已办结\n请为这次服务评价", kind="rating_request")
    assert dispatch(factory, build_messenger(live, factory, clock), clock).sent == 1
    assert fake_wechat.calls["/cgi-bin/message/custom/send"] == 1
    [sent] = fake_wechat.sent
    assert (sent.api, sent.to, sent.payload["template_id"]) == ("template", ZHANG, "tpl-rating")
    assert row(factory, outbox_id).channel == "template"


def test_a_receipt_with_no_template_to_fall_back_on_is_retried_and_routine_news_is_held(
    tmp_path, factory, clock, fake_wechat
) -> None:
    settings = live_settings(
        tmp_path, fake_wechat, GRIDDESK_TEMPLATES_STATUS_ID="", GRIDDESK_TEMPLATES_DEFAULT_ID=""
    )
    resident_wrote(factory, ZHANG, clock())  # we think the window is open; WeChat says 45015
    receipt = queue(factory, clock(), ZHANG, "您发来的消息已处理:工单 #1", kind="reply")
    news = queue(factory, clock(), ZHANG, "您的工单 #1 有新进展")
    result = dispatch(factory, build_messenger(settings, factory, clock), clock)
    assert (result.retried, result.held, result.sent) == (1, 1, 0)
    assert "none set up for 'reply'" in (row(factory, receipt).last_error or "")
    # Nothing can carry the news now: it waits, untried, for the resident's next message.
    held = row(factory, news)
    assert (held.status, held.attempts) == ("held", 0)
    assert "held for the resident's next message" in (held.last_error or "")


@pytest.mark.parametrize("console_url", ["https://console.example.org/", ""])
def test_workers_on_wecom_get_a_text_card_with_a_link_or_plain_text(
    tmp_path, wechat, factory, clock, fake_wechat, console_url
) -> None:
    settings = live_settings(tmp_path, fake_wechat, GRIDDESK_DELIVERY_CONSOLE_URL=console_url)
    with transaction(factory) as session:
        session.execute(update(Worker).where(Worker.openid == WANG).values(wecom_userid="wang.fang"))
    wechat.say(ZHANG, "卫生间水管漏水了")
    assert dispatch(factory, build_messenger(settings, factory, clock), clock).sent == 1
    [sent] = fake_wechat.sent
    assert (sent.api, sent.to, sent.payload["agentid"]) == ("wecom", "wang.fang", fake_wechat.agent_id)
    if console_url:
        card = sent.payload["textcard"]
        assert card["title"] == "【新工单 · 报修】 #1"
        assert card["url"] == "https://console.example.org/tickets/1"
        assert card["description"].startswith("居民:张秀兰 13800000101<br>地址:3号楼2单元301")
    else:
        assert sent.payload["text"]["content"].startswith("【新工单 · 报修】 #1\n居民:张秀兰")
    assert pushes(factory)[0].channel == "wecom"


def test_a_wecom_user_outside_the_app_is_undeliverable(wechat, factory, clock, live, fake_wechat) -> None:
    with transaction(factory) as session:
        session.execute(update(Worker).where(Worker.openid == WANG).values(wecom_userid="nobody"))
    wechat.say(ZHANG, "卫生间水管漏水了")
    assert dispatch(factory, build_messenger(live, factory, clock), clock).undeliverable == 1
    assert pushes(factory)[0].status == "undeliverable" and fake_wechat.sent == []


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
def test_a_rejected_token_is_refreshed_once_and_the_push_goes_out(
    wechat, factory, clock, live, fake_wechat, errcode
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    fake_wechat.fail_next(1, errcode, path="message/template/send")
    assert dispatch(factory, build_messenger(live, factory, clock), clock).sent == 1
    assert fake_wechat.token_fetches == 2
    assert fake_wechat.calls["/cgi-bin/message/template/send"] == 2
    assert len(fake_wechat.sent) == 1 and pushes(factory)[0].attempts == 1


def test_an_expired_token_is_replaced(wechat, factory, clock, live, fake_wechat) -> None:
    messenger = build_messenger(live, factory, clock)
    wechat.say(ZHANG, "卫生间水管漏水了")
    dispatch(factory, messenger, clock)
    fake_wechat.expire_tokens()
    queue(factory, clock(), WANG, "【提醒】请处理工单 #1", kind="deadline_warning")
    assert dispatch(factory, messenger, clock).sent == 1
    assert fake_wechat.token_fetches == 2 and len(fake_wechat.sent) == 2


def test_a_token_rejected_twice_is_retried_later_with_a_forced_new_token(
    wechat, factory, clock, live, fake_wechat
) -> None:
    messenger = build_messenger(live, factory, clock)
    wechat.say(ZHANG, "卫生间水管漏水了")
    fake_wechat.fail_next(2, 40001, path="message/template/send")
    assert dispatch(factory, messenger, clock).retried == 1
    assert "40001" in (pushes(factory)[0].last_error or "")
    fetches, sends = fake_wechat.token_fetches, fake_wechat.calls["/cgi-bin/message/template/send"]
    clock.advance(minutes=1)
    assert dispatch(factory, messenger, clock).sent == 1
    # The token refused on the retry is not presented a third time: a new one is forced first.
    assert fake_wechat.calls["/cgi-bin/message/template/send"] == sends + 1
    assert (fake_wechat.token_fetches, fake_wechat.forced_token_fetches) == (fetches + 1, 2)


def test_quota_used_up_pauses_the_channel_without_spending_tries(factory, clock, live, fake_wechat) -> None:
    messenger = build_messenger(live, factory, clock)
    first = queue(factory, clock(), WANG, "【提醒】一", kind="deadline_warning")
    second = queue(factory, clock(), ZHAO, "【提醒】二", kind="deadline_warning")
    fake_wechat.fail_next(1, 45009, path="message/template/send")
    assert dispatch(factory, messenger, clock).throttled == 2
    assert fake_wechat.calls["/cgi-bin/message/template/send"] == 1  # the second did not even try
    for outbox_id in (first, second):
        paused = row(factory, outbox_id)
        assert (paused.status, paused.attempts) == ("pending", 0)
        assert paused.next_attempt_at >= clock() + timedelta(seconds=live.delivery.quota_pause_seconds)
    clock.advance(seconds=live.delivery.quota_pause_seconds * 1.3)
    assert dispatch(factory, messenger, clock).sent == 2


@pytest.mark.parametrize("gone", ["unfollow", "blacklist", "forget"])
def test_a_resident_who_is_gone_is_undeliverable_and_marked_unsubscribed(
    factory, clock, live, fake_wechat, gone
) -> None:
    getattr(fake_wechat, gone)(ZHANG)
    outbox_id = queue(factory, clock(), ZHANG, "您的工单 #1 有新进展")
    messenger = build_messenger(live, factory, clock)
    assert dispatch(factory, messenger, clock).undeliverable == 1
    assert row(factory, outbox_id).status == "undeliverable" and fake_wechat.sent == []
    with transaction(factory) as session:
        assert session.scalar(select(Resident.subscribed).where(Resident.openid == ZHANG)) is False
    queue(factory, clock(), ZHANG, "您的工单 #1 已办结")
    calls = fake_wechat.api_calls
    assert dispatch(factory, messenger, clock).undeliverable == 1
    assert fake_wechat.api_calls == calls  # known to be gone: WeChat is not asked again


@pytest.mark.parametrize("trouble", ["refuse", "5xx", "busy", "http502", "timeout"])
def test_transient_trouble_is_retried_with_backoff(
    tmp_path, wechat, factory, clock, fake_wechat, trouble
) -> None:
    settings = live_settings(tmp_path, fake_wechat, GRIDDESK_DELIVERY_REQUEST_TIMEOUT_SECONDS="0.3")
    messenger = build_messenger(settings, factory, clock)
    wechat.say(ZHANG, "卫生间水管漏水了")
    dispatch(factory, messenger, clock)  # fetches the token while all is well
    queue(factory, clock(), WANG, "【提醒】请处理工单 #1", kind="deadline_warning")
    if trouble in ("refuse", "5xx"):
        fake_wechat.go_down(trouble)
    elif trouble == "busy":
        fake_wechat.fail_next(1, -1)
    elif trouble == "http502":
        fake_wechat.fail_next(1, http_status=502)
    else:
        fake_wechat.set_latency(0.6)
    started = time.monotonic()
    assert dispatch(factory, messenger, clock).retried == 1
    # The backoff counts from the failed try, which came this long into the run.
    took = timedelta(seconds=time.monotonic() - started)
    if trouble == "timeout":
        time.sleep(0.5)  # the slow call finishes on WeChat's side after GridDesk stopped waiting
    waiting = pushes(factory)[-1]
    assert (waiting.status, waiting.attempts) == ("pending", 1) and waiting.last_error
    assert timedelta(seconds=8) <= waiting.next_attempt_at - clock() <= timedelta(seconds=12) + took
    fake_wechat.come_back()
    fake_wechat.set_latency(0)
    clock.advance(seconds=13 + took.total_seconds())
    assert dispatch(factory, messenger, clock).sent == 1
    reminders = [s for s in fake_wechat.sent if s.payload["template_id"] == "tpl-escalation"]
    # A timed-out call may have reached WeChat after all: at least once, as promised, not exactly once.
    assert len(reminders) == (2 if trouble == "timeout" else 1)


@pytest.mark.parametrize("trouble", ["refuse", "5xx"])
def test_an_outage_costs_a_few_tries_per_run_not_one_per_push(
    tmp_path, factory, clock, fake_wechat, trouble
) -> None:
    settings = live_settings(tmp_path, fake_wechat, GRIDDESK_DELIVERY_REQUEST_TIMEOUT_SECONDS="0.3")
    messenger = build_messenger(settings, factory, clock)
    # To a resident: staff pushes would be paced (more than a minute's budget for one worker here).
    queued = [queue(factory, clock(), ZHANG, f"您的工单 #{n} 有新进展", kind="status") for n in range(22)]
    fake_wechat.go_down(trouble)
    for _ in range(5):
        result = dispatch(factory, messenger, clock)
        assert (result.retried, result.sent, result.dead) == (OUTAGE_AFTER, 0, 0)
        clock.advance(seconds=2)
    tries = sorted(row(factory, outbox_id).attempts for outbox_id in queued)
    # Five runs spent three tries each, on fifteen different pushes; seven were never tried.
    assert sum(tries) == 5 * OUTAGE_AFTER and max(tries) == 1
    fake_wechat.come_back()
    clock.advance(minutes=5)
    assert dispatch(factory, messenger, clock).sent == 22


def test_a_retry_waits_its_backoff_from_when_it_failed_not_from_the_runs_start(
    tmp_path, factory, clock, fake_wechat
) -> None:
    settings = live_settings(tmp_path, fake_wechat, GRIDDESK_DELIVERY_REQUEST_TIMEOUT_SECONDS="5")
    messenger = build_messenger(settings, factory, clock)
    queued = [
        queue(factory, clock(), WANG, f"【提醒】请处理工单 #{n}", kind="deadline_warning") for n in range(3)
    ]
    fake_wechat.fail_next(3, 45003, path="message/template/send")  # refused one by one, slowly
    fake_wechat.set_latency(0.5)
    started = time.monotonic()
    assert dispatch(factory, messenger, clock).retried == 3
    elapsed = timedelta(seconds=time.monotonic() - started)
    last = row(factory, queued[-1])
    # Backoff 10 s ±20%, counted from the last failure, which came about `elapsed` after the run began.
    assert last.next_attempt_at - clock() >= timedelta(seconds=8) + elapsed - timedelta(seconds=0.6)


def test_the_webhook_answers_while_wechat_is_down_and_nothing_is_lost_across_a_restart(
    wechat, factory, clock, live, fake_wechat
) -> None:
    fake_wechat.go_down("refuse")
    started = time.monotonic()
    assert "#1" in (wechat.say(ZHANG, "卫生间水管漏水了") or "")
    assert time.monotonic() - started < 1.0
    assert dispatch(factory, build_messenger(live, factory, clock), clock).retried == 1
    # The process restarts: a new engine and messenger on the same database file.
    engine = make_engine(live.database_url)
    try:
        restarted = make_session_factory(engine)
        fake_wechat.come_back()
        clock.advance(minutes=1)
        assert dispatch(restarted, build_messenger(live, restarted, clock), clock).sent == 1
    finally:
        engine.dispose()
    assert [s.to for s in fake_wechat.sent] == [WANG]


def test_a_dead_emergency_push_alerts_the_leader_and_the_leaders_own_goes_to_the_duty_desk(
    wechat, factory, clock, live, fake_wechat
) -> None:
    messenger = build_messenger(live, factory, clock)
    fake_wechat.go_down("5xx")
    wechat.say(ZHANG, "家里着火了")
    for _ in range(POLICY.max_attempts):
        dispatch(factory, messenger, clock)
        clock.advance(minutes=10)
    emergencies = [p for p in pushes(factory) if p.kind == "emergency"]
    assert sorted((p.recipient, p.status) for p in emergencies) == [(ZHAO, "dead"), (WANG, "dead")]
    alerts = [p for p in pushes(factory) if p.kind == "delivery_failed"]
    assert sorted(p.recipient for p in alerts) == [DUTY, ZHAO]
    to_leader = next(p for p in alerts if p.recipient == ZHAO)
    assert "王芳(13900000002)没有收到工单 #1 的紧急求助推送" in to_leader.text
    assert "家里着火了" in to_leader.text and to_leader.ticket_id == 1
    fake_wechat.come_back()
    assert dispatch(factory, messenger, clock).sent == 2
    assert sorted(s.to for s in fake_wechat.sent) == [DUTY, ZHAO]
    assert {s.payload["template_id"] for s in fake_wechat.sent} == {"tpl-escalation"}


def test_an_alert_that_cannot_be_delivered_is_never_alerted_about(
    wechat, factory, clock, live, fake_wechat
) -> None:
    messenger = build_messenger(live, factory, clock)
    fake_wechat.go_down("5xx")
    wechat.say(ZHANG, "家里着火了")
    for _ in range(POLICY.max_attempts * 3):
        dispatch(factory, messenger, clock)
        clock.advance(hours=1)
    kinds = sorted((p.kind, p.status) for p in pushes(factory))
    assert kinds == [("delivery_failed", "dead")] * 2 + [("emergency", "dead")] * 2


def test_an_unreachable_worker_on_an_emergency_alerts_the_leader_at_once(
    wechat, factory, clock, live, fake_wechat
) -> None:
    fake_wechat.forget(WANG)
    wechat.say(ZHANG, "家里着火了")
    result = dispatch(factory, build_messenger(live, factory, clock), clock)
    assert (result.sent, result.undeliverable) == (2, 1)  # the leader's page, then the alert
    [alert] = [p for p in pushes(factory) if p.kind == "delivery_failed"]
    assert alert.recipient == ZHAO and alert.status == "sent"
    assert "王芳(13900000002)没有收到工单 #1 的紧急求助推送" in alert.text


def test_template_job_finish_events_settle_the_push(wechat, factory, clock, live, fake_wechat) -> None:
    messenger = build_messenger(live, factory, clock)
    wechat.say(ZHANG, "卫生间水管漏水了")
    dispatch(factory, messenger, clock)
    [first] = fake_wechat.sent
    event = {"Event": "TEMPLATESENDJOBFINISH", "MsgID": str(first.msgid), "Status": "success"}
    with transaction(factory) as session:
        settled = record_template_result(session, receipt_in(message_xml(WANG, "event", event)), clock())
        assert settled is not None and (settled.status, settled.receipt) == ("sent", "success")
        assert record_template_result(session, TemplateReceipt(999, "success"), clock()) is None
        assert receipt_in(message_xml(WANG, "text", {"Content": "1"})) is None

    queue(factory, clock(), WANG, "【提醒】请处理工单 #1", kind="deadline_warning")
    dispatch(factory, messenger, clock)
    second = fake_wechat.sent[-1]
    with transaction(factory) as session:
        failed = record_template_result(
            session, TemplateReceipt(second.msgid, "failed: system failed"), clock()
        )
        assert failed is not None and failed.status == "pending"
    assert dispatch(factory, messenger, clock).sent == 1  # WeChat lost it: sent again
    third = fake_wechat.sent[-1]
    assert third.msgid != second.msgid and third.payload == second.payload

    fake_wechat.block_templates(WANG)
    queue(factory, clock(), WANG, "【提醒】再次提醒", kind="deadline_warning")
    dispatch(factory, messenger, clock)
    blocked = fake_wechat.sent[-1]
    with transaction(factory) as session:
        event = TemplateReceipt(blocked.msgid, fake_wechat.template_results[blocked.msgid])
        refused = record_template_result(session, event, clock())
        assert refused is not None and (refused.status, refused.receipt) == (
            "undeliverable",
            "failed:user block",
        )


def test_sandbox_mode_keeps_the_console(settings, factory, clock) -> None:
    assert build_messenger(settings, factory, clock).channel == "console"


def test_live_settings_are_not_the_sandbox(live: Settings) -> None:
    assert not live.sandbox and live.wecom.enabled


def test_template_job_finish_arrives_through_the_webhook(wechat, factory, clock, live, fake_wechat) -> None:
    messenger = build_messenger(live, factory, clock)
    wechat.say(ZHANG, "卫生间水管漏水了")
    dispatch(factory, messenger, clock)
    [first] = fake_wechat.sent
    response = wechat.post(
        WANG, "event", Event="TEMPLATESENDJOBFINISH", MsgID=str(first.msgid), Status="success"
    )
    assert response.get_data(as_text=True) == "success"
    [row] = pushes(factory)
    assert (row.status, row.receipt) == ("sent", "success")
    with transaction(factory) as session:
        worker_as_resident = session.scalar(select(Resident).where(Resident.openid == WANG))
    assert worker_as_resident is None  # WeChat's report is not the worker writing to us


def test_wechat_refuses_a_long_or_broken_template_field_and_griddesk_sends_none(
    factory, clock, live, fake_wechat
) -> None:
    client = official_account_client(live, factory)
    for bad in ("一" * 21, "第一行\n第二行"):
        with pytest.raises(WeChatClientException) as refused:
            client.message.send_template(ZHANG, "tpl-status", {"keyword1": {"value": bad}})
        assert refused.value.errcode == 47003
    long_news = (
        "您的工单 #1 已由网格员王芳签收,她会在今天下午三点前上门查看卫生间漏水的情况\n"
        "处理情况:已联系物业,维修师傅明天上午九点上门更换水管\n请家中留人,谢谢配合"
    )
    queue(factory, clock(), ZHANG, long_news, kind="status")
    assert dispatch(factory, build_messenger(live, factory, clock), clock).sent == 1
    [sent] = fake_wechat.sent
    values = [field["value"] for field in sent.payload["data"].values()]
    assert values[0] == "您的工单 #1 已由网格员王芳签收,她…"
    assert all(len(value) <= 20 and "\n" not in value for value in values)
    assert fake_wechat.hidden_template_parts == []
