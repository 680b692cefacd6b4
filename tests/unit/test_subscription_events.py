"""WeChat's subscription-message events, read at the edge: wechatpy does not know them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from wechatpy import parse_message

from bot.inbound_record import MalformedMessage, record_from_wechat
from bot.spool.records import SpooledMessage, decode, encode
from tests.fakewechat import FakeWeChat


def read(xml: str):
    return record_from_wechat(parse_message(xml), xml)


def sent_event(items: str) -> str:
    return (
        "<xml><ToUserName>gh_x</ToUserName><FromUserName>o-elder</FromUserName><CreateTime>1764000000"
        "</CreateTime><MsgType>event</MsgType><Event>subscribe_msg_sent_event</Event>"
        f"<SubscribeMsgSentEvent>{items}</SubscribeMsgSentEvent></xml>"
    )


def test_a_popup_with_several_templates_is_one_event_with_each_choice() -> None:
    xml = FakeWeChat().subscribe_popup("o-elder", {"sub-a": True, "sub-b": False}, created=1764000000)
    record = read(xml)
    assert (record.incoming.msg_type, record.incoming.event) == ("event", "subscribe_msg_popup_event")
    assert record.incoming.subscriptions == (("sub-a", "accept"), ("sub-b", "reject"))
    assert record.dedup_key == "evt:o-elder:1764000000:subscribe_msg_popup_event"


def test_a_send_report_says_sent_or_why_it_failed() -> None:
    ok = (
        "<List><TemplateId>sub-a</TemplateId><MsgID>1</MsgID><ErrorCode>0</ErrorCode>"
        "<ErrorStatus>success</ErrorStatus></List>"
    )
    failed = (
        "<List><TemplateId>sub-a</TemplateId><MsgID>2</MsgID><ErrorCode>20001</ErrorCode>"
        "<ErrorStatus>failed: user block</ErrorStatus></List>"
    )
    assert read(sent_event(ok + failed)).incoming.subscriptions == (
        ("sub-a", "sent"),
        ("sub-a", "failed: user block"),
    )


def test_an_item_without_a_template_id_is_malformed() -> None:
    with pytest.raises(MalformedMessage):
        read(sent_event("<List><ErrorCode>0</ErrorCode></List>"))


def test_a_spooled_subscription_event_comes_back_the_same() -> None:
    xml = FakeWeChat().subscribe_popup("o-elder", {"sub-a": True}, created=1764000000)
    spooled = SpooledMessage(read(xml), datetime(2026, 11, 28, tzinfo=UTC))
    assert decode(encode(spooled)).record == spooled.record
