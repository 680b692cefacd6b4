"""Odd but well-formed messages: never a 500 or 503, never a lost message, never an openid in the logs.

What WeChat never sends (an openid longer than its column, an element twice, markup inside a field, numbers
that are no MsgId, time or place) is answered 400 and nothing is stored. What WeChat may send long (a menu or
QR code key, a location's label) is kept, cut to fit its column. Run on PostgreSQL too
(GRIDDESK_TEST_DATABASE_URL), whose columns, unlike SQLite's, refuse what does not fit.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from bot.simulator import message_xml
from storage.db import transaction
from storage.models import InboundMessage
from tests.conftest import tickets

LIU = "demo-resident-liu"
HEAD = "<ToUserName><![CDATA[gh_griddesk_demo]]></ToUserName><CreateTime>1763800000</CreateTime>"


def xml(*elements: str) -> str:
    """A message from the parts given, each one or more elements."""
    return "<xml>" + HEAD + "".join(elements) + "</xml>"


def from_(openid: str) -> str:
    return f"<FromUserName><![CDATA[{openid}]]></FromUserName>"


TEXT = "<MsgType>text</MsgType><Content>楼道灯坏了</Content><MsgId>6100000001</MsgId>"


def stored(factory) -> list[InboundMessage]:
    with transaction(factory) as session:
        return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))


@pytest.mark.parametrize(
    "body",
    [
        xml(from_("o" * 65), TEXT),
        xml(from_(LIU), from_("demo-resident-zhang"), TEXT),
        xml("<FromUserName><openid>x</openid></FromUserName>", TEXT),
        xml(
            from_(LIU),
            "<MsgType>text</MsgType><Content>a</Content><Content>b</Content><MsgId>6100000002</MsgId>",
        ),
        xml(
            from_(LIU), '<MsgType>text</MsgType><Content lang="zh">灯坏了</Content><MsgId>6100000003</MsgId>'
        ),
        xml(from_(LIU), "<MsgType>text</MsgType><Content>灯坏了</Content><MsgId>" + "9" * 200 + "</MsgId>"),
        xml(from_(LIU), f"<MsgType>text</MsgType><Content>灯坏了</Content><MsgId>{2**64}</MsgId>"),
        xml(
            from_(LIU),
            "<MsgType>image</MsgType><PicUrl>http://x/1.jpg</PicUrl>",
            "<MediaId>" + "m" * 201 + "</MediaId>",
        ),
        xml(
            from_(LIU),
            "<MsgType>event</MsgType><Event>LOCATION</Event><Latitude>inf</Latitude><Longitude>1</Longitude>",
        ),
        xml(
            from_(LIU),
            "<MsgType>location</MsgType><Location_X>nan</Location_X><Location_Y>116.4</Location_Y>",
        ),
        xml(from_(LIU), "<MsgType>event</MsgType><Event>location_select</Event><EventKey>k</EventKey>"),
    ],
    ids=[
        "openid-over-64",
        "two-senders",
        "markup-in-sender",
        "two-contents",
        "attribute-on-content",
        "msgid-of-200-digits",
        "msgid-past-64-bits",
        "mediaid-over-200",
        "infinite-latitude",
        "nan-latitude",
        "location-select-without-location",
    ],
)
def test_what_wechat_never_sends_is_a_400_and_nothing_is_stored(wechat, factory, body: str) -> None:
    response = wechat.post_xml(body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert stored(factory) == [] and tickets(factory) == []


def test_an_event_time_beyond_reason_is_a_400(wechat, factory) -> None:
    body = message_xml(LIU, "event", {"Event": "CLICK", "EventKey": "MENU_SOS"}, create_time=10**50)
    assert wechat.post_xml(body).status_code == 400
    assert stored(factory) == []


def test_two_senders_in_one_message_leave_neither_openid_in_the_logs(wechat, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        response = wechat.post_xml(xml(from_("o-first-sender-123456"), from_("o-second-sender-654321"), TEXT))
    assert response.status_code == 400
    assert "duplicated element FromUserName" in response.get_data(as_text=True)
    assert "first-sender" not in caplog.text and "second-sender" not in caplog.text


def test_a_long_menu_key_is_kept_cut_to_its_column_and_a_retry_is_still_one_message(wechat, factory) -> None:
    key = "MENU_" + "X" * 295
    tap = message_xml(LIU, "event", {"Event": "CLICK", "EventKey": key}, create_time=1763800100)
    first = wechat.reply(wechat.post_xml(tap))
    assert wechat.reply(wechat.post_xml(tap)) == first
    (message,) = stored(factory)
    assert message.event_key == key[:120]


def test_a_qr_code_scene_of_any_length_still_follows(wechat, factory) -> None:
    scene = "qrscene_building:" + "3号楼" * 60
    reply = wechat.event("o-new-neighbour", "subscribe", scene)
    assert reply  # a welcome, not an error page
    (message,) = stored(factory)
    assert message.event_key == scene.removeprefix("qrscene_")[:120]


def test_a_location_with_a_long_label_is_kept(wechat, factory) -> None:
    label = "北京市朝阳区幸福里社区东门" * 40
    fields = {"Location_X": "39.9", "Location_Y": "116.4", "Scale": "15", "Label": label}
    response = wechat.post(LIU, "location", **fields)
    assert wechat.reply(response)
    (message,) = stored(factory)
    assert message.label == label[:200] and message.latitude == 39.9


def test_a_view_tap_with_a_long_url_is_kept(wechat, factory) -> None:
    url = "https://example.org/guide?" + "a=1&" * 250
    response = wechat.post(LIU, "event", Event="VIEW", EventKey=url)
    assert response.status_code == 200
    assert len(stored(factory)) == 1
