"""The /wechat endpoint speaks WeChat's protocol and refuses anything else without losing a message."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.simulator import message_xml, sign, text_xml, verification_params
from storage.db import transaction
from storage.models import InboundMessage
from tests.conftest import TEST_AES_KEY, TEST_APPID, make_settings, tickets
from tests.support import WeChatServer


def stored_messages(factory: sessionmaker[Session]) -> int:
    with transaction(factory) as session:
        return session.scalar(select(func.count()).select_from(InboundMessage)) or 0


def now(wechat: WeChatServer) -> int:
    """The app's time as WeChat's timestamp."""
    return int(wechat.clock().timestamp())


def test_url_verification_echoes_echostr(wechat: WeChatServer) -> None:
    params = verification_params(wechat.wechat.token, echostr="hello-wechat", timestamp=now(wechat))
    response = wechat.client.get("/wechat", query_string=params)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "hello-wechat"


def test_url_verification_with_wrong_token_is_refused(wechat: WeChatServer) -> None:
    params = verification_params("not-our-token", timestamp=now(wechat))
    response = wechat.client.get("/wechat", query_string=params)
    assert response.status_code == 403
    assert "invalid signature" in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_forged_signature_is_refused_and_nothing_is_stored(wechat, factory) -> None:
    body = text_xml("demo-resident-zhang", "卫生间水管漏水了")
    forged = sign("attacker-token", body, timestamp=now(wechat))
    response = wechat.client.post("/wechat", query_string=forged.params, data=body.encode())
    assert response.status_code == 403
    assert "invalid signature" in response.get_data(as_text=True)
    assert stored_messages(factory) == 0
    assert tickets(factory) == []


def test_missing_signature_is_refused(wechat, factory) -> None:
    body = text_xml("demo-resident-zhang", "卫生间水管漏水了")
    response = wechat.client.post("/wechat", data=body.encode())
    assert response.status_code == 403
    assert stored_messages(factory) == 0


def test_oversize_body_is_refused_with_413(wechat, factory) -> None:
    body = text_xml("demo-resident-zhang", "漏水" * 40_000)
    response = wechat.post_xml(body)
    assert response.status_code == 413
    assert stored_messages(factory) == 0


@pytest.mark.parametrize(
    "body",
    [
        "<xml><ToUserName>broken",
        "not xml at all",
        "",
        "<xml><FromUserName>demo-resident-zhang</FromUserName></xml>",
        "<other><MsgType>text</MsgType></other>",
        "<xml><ToUserName>gh</ToUserName><FromUserName>u1</FromUserName><CreateTime>soon</CreateTime>"
        "<MsgType>text</MsgType><Content>hi</Content><MsgId>1</MsgId></xml>",
    ],
    ids=["truncated", "not-xml", "empty", "no-msgtype", "wrong-root", "bad-createtime"],
)
def test_malformed_bodies_get_400_without_traceback(wechat, factory, body: str) -> None:
    response = wechat.post_xml(body)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "<html" not in text.lower()
    assert stored_messages(factory) == 0


def test_reply_is_addressed_back_to_the_resident(wechat) -> None:
    response = wechat.post("demo-resident-zhang", "text", Content="卫生间水管漏水了")
    xml = response.get_data(as_text=True)
    assert "<ToUserName><![CDATA[demo-resident-zhang]]></ToUserName>" in xml
    assert "<MsgType><![CDATA[text]]></MsgType>" in xml


def test_a_retry_gets_the_same_reply_and_no_second_ticket(wechat, factory) -> None:
    body = text_xml("demo-resident-zhang", "卫生间水管漏水了", msg_id=424242)
    first = wechat.reply(wechat.post_xml(body))
    second = wechat.reply(wechat.post_xml(body))
    third = wechat.reply(wechat.post_xml(body))
    assert first == second == third
    assert "#1" in first
    assert len(tickets(factory)) == 1
    assert stored_messages(factory) == 1


def test_event_retries_are_keyed_by_sender_and_time(wechat, factory) -> None:
    body = message_xml(
        "demo-resident-liu", "event", {"Event": "CLICK", "EventKey": "MENU_SOS"}, create_time=1763800000
    )
    first = wechat.reply(wechat.post_xml(body))
    again = wechat.reply(wechat.post_xml(body))
    assert first == again
    assert len(tickets(factory)) == 1


def test_unknown_message_types_get_a_polite_help_reply(wechat, factory) -> None:
    reply = wechat.reply(
        wechat.post("demo-resident-liu", "link", Title="文章", Description="d", Url="http://x")
    )
    assert "网格服务台" in reply and "人工" in reply
    assert stored_messages(factory) == 1


@pytest.fixture
def safe_wechat(tmp_path: Path, factory, classifier, clock) -> WeChatServer:
    """The app in safe mode (AES), on the same demo database."""
    settings = make_settings(
        tmp_path,
        GRIDDESK_WECHAT_AES_KEY=TEST_AES_KEY,
        GRIDDESK_WECHAT_APPID=TEST_APPID,
        GRIDDESK_WECHAT_TOKEN="safe-token",
    )
    app = create_app(settings, factory, classifier, clock)
    return WeChatServer(app.test_client(), settings.wechat, clock)


def test_safe_mode_decrypts_the_message_and_encrypts_the_reply(safe_wechat: WeChatServer, factory) -> None:
    response = safe_wechat.post("demo-resident-zhang", "text", Content="卫生间水管漏水了")
    raw = response.get_data(as_text=True)
    assert "<Encrypt>" in raw and "漏水" not in raw and "王芳" not in raw
    reply = safe_wechat.reply(response)
    assert "#1" in reply and "王芳" in reply
    assert tickets(factory)[0].summary == "卫生间水管漏水了"


def test_safe_mode_refuses_a_forged_msg_signature(safe_wechat: WeChatServer, factory) -> None:
    body = text_xml("demo-resident-zhang", "卫生间水管漏水了")
    signed = safe_wechat.sign(body)
    params = signed.params | {"msg_signature": "0" * 40}
    response = safe_wechat.client.post("/wechat", query_string=params, data=signed.body.encode())
    assert response.status_code == 403
    assert stored_messages(factory) == 0


def test_safe_mode_rejects_ciphertext_for_another_account(safe_wechat: WeChatServer, factory) -> None:
    body = text_xml("demo-resident-zhang", "卫生间水管漏水了")
    signed = sign(
        "safe-token", body, aes_key=TEST_AES_KEY, appid="wx-someone-else", timestamp=now(safe_wechat)
    )
    response = safe_wechat.client.post("/wechat", query_string=signed.params, data=signed.body.encode())
    assert response.status_code == 400
    assert stored_messages(factory) == 0


def test_encrypted_message_without_a_configured_key_is_a_clear_400(wechat) -> None:
    body = text_xml("demo-resident-zhang", "卫生间水管漏水了")
    signed = sign(wechat.wechat.token, body, aes_key=TEST_AES_KEY, appid=TEST_APPID, timestamp=now(wechat))
    response = wechat.client.post("/wechat", query_string=signed.params, data=signed.body.encode())
    assert response.status_code == 400
    assert "safe mode" in response.get_data(as_text=True)
