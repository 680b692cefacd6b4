"""/wechat acts only on fresh, signed, unreplayed requests: a captured query string is worth nothing.

WeChat's plaintext signature covers the token, timestamp and nonce but not the body, so whoever reads one
request's query string (an access log, a proxy) could sign anything with it. Each attack below is what an
attacker would try with such a capture; each WeChat behaviour is what must keep working.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.messenger import ConsoleMessenger
from bot.scheduler import build_scheduler
from bot.simulator import message_xml, sign, text_xml, verification_params
from storage.db import make_engine, make_session_factory, transaction
from storage.models import InboundMessage, WebhookNonce
from tests.cli import run_in_process
from tests.conftest import TEST_AES_KEY, TEST_APPID, command_env, make_settings, pushes, tickets
from tests.support import WeChatServer

ZHANG, LIU, WANG = "demo-resident-zhang", "demo-resident-liu", "demo-worker-wang"


def stored_messages(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return session.scalar(select(func.count()).select_from(InboundMessage)) or 0


def refusal(response) -> str:
    """The short reason of a 403."""
    assert response.status_code == 403, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_a_captured_query_string_cannot_carry_a_forged_worker_command(wechat, factory) -> None:
    """The attack of issue 12: a worker's captured request, replayed with "办结 1" as its body."""
    wechat.say(ZHANG, "卫生间水管漏水了")  # ticket #1, 王芳's
    captured = wechat.sign(text_xml(WANG, "我的工单"))
    assert "#1" in wechat.reply(wechat.send(captured))
    before = len(pushes(factory))

    forged = replace(captured, body=text_xml(WANG, "办结 1 已修好"))
    assert "nonce already used" in refusal(wechat.send(forged))

    assert tickets(factory)[0].status == "assigned"
    assert len(pushes(factory)) == before
    assert stored_messages(factory) == 2


def test_a_captured_query_string_cannot_raise_a_false_emergency_for_someone_else(wechat, factory) -> None:
    captured = wechat.sign(text_xml(ZHANG, "我的工单"))
    wechat.send(captured)
    forged = replace(captured, body=text_xml(LIU, "救命 着火了"))
    refusal(wechat.send(forged))
    assert tickets(factory) == []
    assert pushes(factory) == []


def test_wechat_resending_the_same_request_gets_the_same_reply_and_changes_nothing(wechat, factory) -> None:
    """WeChat's retry of an unanswered message may reuse the query string: it is the same message."""
    request = wechat.sign(text_xml(ZHANG, "卫生间水管漏水了", msg_id=515151))
    first = wechat.reply(wechat.send(request))
    before = len(pushes(factory))
    again = wechat.reply(wechat.send(request))
    third = wechat.reply(wechat.send(request))
    assert first == again == third and "#1" in first
    assert len(tickets(factory)) == 1
    assert len(pushes(factory)) == before
    assert stored_messages(factory) == 1


def test_a_retry_with_a_new_query_string_is_still_one_message(wechat, factory, clock) -> None:
    """WeChat's retry may instead be signed anew, seconds later: MsgId keeps it one message."""
    body = text_xml(ZHANG, "卫生间水管漏水了", msg_id=515152)
    first = wechat.reply(wechat.post_xml(body))
    clock.advance(seconds=5)
    assert wechat.reply(wechat.post_xml(body)) == first
    assert len(tickets(factory)) == 1


@pytest.mark.parametrize("skew", [timedelta(seconds=-301), timedelta(seconds=301), timedelta(days=-3)])
def test_a_request_signed_outside_the_window_is_refused(wechat, factory, clock, skew) -> None:
    stale = wechat.sign(text_xml(ZHANG, "卫生间水管漏水了"), at=clock() + skew)
    assert "stale timestamp" in refusal(wechat.send(stale))
    assert stored_messages(factory) == 0


def test_a_request_inside_the_window_is_accepted_either_side(wechat, clock) -> None:
    for seconds in (-300, 300):
        request = wechat.sign(text_xml(ZHANG, "楼道灯坏了"), at=clock() + timedelta(seconds=seconds))
        assert wechat.send(request).status_code == 200


def test_a_capture_replayed_after_the_window_is_refused(wechat, factory, clock) -> None:
    captured = wechat.sign(text_xml(ZHANG, "卫生间水管漏水了"))
    wechat.send(captured)
    clock.advance(minutes=6)
    assert "stale timestamp" in refusal(wechat.send(captured))
    assert "stale timestamp" in refusal(wechat.send(replace(captured, body=text_xml(ZHANG, "取消 1"))))
    assert tickets(factory)[0].status == "assigned"


@pytest.mark.parametrize(
    "drop, bad",
    [("timestamp", None), ("nonce", None), (None, {"timestamp": "soon"}), (None, {"nonce": "x" * 65})],
    ids=["no-timestamp", "no-nonce", "word-timestamp", "long-nonce"],
)
def test_a_request_without_a_proper_timestamp_or_nonce_is_refused(wechat, factory, drop, bad) -> None:
    request = wechat.sign(text_xml(ZHANG, "卫生间水管漏水了"))
    params = {k: v for k, v in request.params.items() if k != drop} | (bad or {})
    response = wechat.client.post("/wechat", query_string=params, data=request.body.encode())
    assert "timestamp or nonce" in refusal(response)
    assert stored_messages(factory) == 0


def test_url_verification_with_a_stale_timestamp_is_refused(wechat, clock) -> None:
    stale = int((clock() - timedelta(minutes=10)).timestamp())
    params = verification_params(wechat.wechat.token, echostr="hello", timestamp=stale)
    assert "stale timestamp" in refusal(wechat.client.get("/wechat", query_string=params))


def test_every_web_process_shares_the_nonce_memory(wechat, settings, classifier, clock) -> None:
    """A replay sent to another gunicorn worker (its own engine and pool) is refused just the same."""
    captured = wechat.sign(text_xml(WANG, "我的工单"))
    wechat.send(captured)
    engine = make_engine(settings.database_url)
    try:
        other = create_app(settings, make_session_factory(engine), classifier, clock)
        elsewhere = WeChatServer(other.test_client(), settings.wechat, clock)
        refusal(elsewhere.send(replace(captured, body=text_xml(WANG, "下班"))))
        assert elsewhere.send(captured).status_code == 200  # WeChat's retry lands there: fine
    finally:
        engine.dispose()


def test_refusals_are_logged_with_the_reason_and_no_openid(wechat, clock, caplog) -> None:
    captured = wechat.sign(text_xml(WANG, "我的工单"))
    wechat.send(captured)
    with caplog.at_level(logging.INFO):
        wechat.send(replace(captured, body=text_xml(WANG, "办结 1")))
        wechat.send(wechat.sign(text_xml(ZHANG, "你好"), at=clock() - timedelta(hours=1)))
    assert "nonce already used" in caplog.text and "stale timestamp" in caplog.text
    assert "-3600 s from our clock" in caplog.text  # says which way the clocks disagree
    assert WANG not in caplog.text and ZHANG not in caplog.text


def test_the_scheduler_forgets_stale_nonces_and_their_requests_stay_refused(
    wechat, factory, settings, classifier, clock
) -> None:
    scheduler = build_scheduler(settings, factory, ConsoleMessenger(), clock, classifier)
    forget = scheduler.get_job("webhook-nonces")
    assert forget.trigger.interval.total_seconds() == 60
    captured = wechat.sign(text_xml(ZHANG, "卫生间水管漏水了"))
    wechat.send(captured)
    forget.func()
    assert remembered_nonces(factory) == 1  # still inside the window
    clock.advance(minutes=11)
    forget.func()
    assert remembered_nonces(factory) == 0
    assert "stale timestamp" in refusal(wechat.send(replace(captured, body=text_xml(ZHANG, "取消 1"))))


def remembered_nonces(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return session.scalar(select(func.count()).select_from(WebhookNonce)) or 0


# Safe mode (安全模式) and compatible mode (兼容模式)


def safe_app(tmp_path: Path, factory, classifier, clock, **env: str) -> tuple[WeChatServer, WeChatServer]:
    """The app with an EncodingAESKey: WeChat in safe mode, and someone posting plaintext to it."""
    settings = make_settings(
        tmp_path,
        GRIDDESK_WECHAT_AES_KEY=TEST_AES_KEY,
        GRIDDESK_WECHAT_APPID=TEST_APPID,
        GRIDDESK_WECHAT_TOKEN="safe-token",
        **env,
    )
    client = create_app(settings, factory, classifier, clock).test_client()
    plaintext = replace(settings.wechat, aes_key="")
    return WeChatServer(client, settings.wechat, clock), WeChatServer(client, plaintext, clock)


def test_in_safe_mode_a_plaintext_message_is_refused(tmp_path, factory, classifier, clock) -> None:
    """A downgrade: the token signs plaintext too, so plaintext would skip the encrypted body's signature."""
    encrypted, plaintext = safe_app(tmp_path, factory, classifier, clock)
    assert "plaintext refused" in refusal(plaintext.post(LIU, "text", Content="救命 着火了"))
    assert tickets(factory) == [] and stored_messages(factory) == 0
    assert "#1" in encrypted.say(ZHANG, "卫生间水管漏水了")


def test_compatible_mode_accepts_plaintext_but_not_replays(tmp_path, factory, classifier, clock) -> None:
    encrypted, plaintext = safe_app(
        tmp_path, factory, classifier, clock, GRIDDESK_WEBHOOK_ALLOW_PLAINTEXT_IN_SAFE_MODE="true"
    )
    assert "#1" in plaintext.say(ZHANG, "卫生间水管漏水了")
    assert "#2" in encrypted.say(LIU, "帮忙交一下水电费")
    captured = plaintext.sign(text_xml(WANG, "我的工单"))
    plaintext.send(captured)
    refusal(plaintext.send(replace(captured, body=text_xml(WANG, "办结 1"))))
    stale = plaintext.sign(text_xml(ZHANG, "楼道灯坏了"), at=clock() - timedelta(minutes=6))
    assert "stale timestamp" in refusal(plaintext.send(stale))
    assert [t.status for t in tickets(factory)] == ["assigned", "assigned"]


def test_in_safe_mode_a_replayed_event_is_answered_once(tmp_path, factory, classifier, clock) -> None:
    encrypted, _ = safe_app(tmp_path, factory, classifier, clock)
    tap = encrypted.sign(message_xml(LIU, "event", {"Event": "CLICK", "EventKey": "MENU_SOS"}))
    first = encrypted.reply(encrypted.send(tap))
    assert encrypted.reply(encrypted.send(tap)) == first
    assert len(tickets(factory)) == 1


def test_a_safe_mode_capture_cannot_be_re_encrypted_with_another_message(
    tmp_path, factory, classifier, clock
) -> None:
    """Without the token a new msg_signature cannot be made; with it nothing here would help anyway."""
    encrypted, _ = safe_app(tmp_path, factory, classifier, clock)
    captured = encrypted.sign(text_xml(WANG, "我的工单"))
    encrypted.send(captured)
    other = sign("safe-token", text_xml(WANG, "办结 1"), aes_key=TEST_AES_KEY, appid=TEST_APPID)
    forged = replace(captured, body=other.body)
    assert "invalid msg_signature" in refusal(encrypted.send(forged))


def test_a_bad_window_stops_start_up_with_one_line_naming_it(tmp_path) -> None:
    env = command_env(tmp_path / "griddesk.db", GRIDDESK_WEBHOOK_TIMESTAMP_WINDOW_SECONDS="3")
    done = run_in_process(env, "tickets")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "configuration error: GRIDDESK_WEBHOOK_TIMESTAMP_WINDOW_SECONDS (webhook.timestamp_window_seconds): "
        "expected a whole number of seconds from 30 to 3600, got '3'"
    ]
