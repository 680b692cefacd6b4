"""XML that tries to expand entities or read files through /wechat is refused and stores nothing."""

from __future__ import annotations

import pytest

from tests.conftest import tickets
from tests.e2e.test_webhook_protocol import stored_messages

LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "哈哈哈哈哈哈哈哈哈哈">'
    + "".join(f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(8))
    + "]><xml><ToUserName>gh</ToUserName><FromUserName>demo-resident-zhang</FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>&i;</Content>"
    "<MsgId>1</MsgId></xml>"
)
EXTERNAL = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>demo-resident-zhang</FromUserName>"
    "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content>&secret;</Content>"
    "<MsgId>2</MsgId></xml>"
)


@pytest.mark.parametrize("body", [LAUGHS, EXTERNAL], ids=["billion-laughs", "external-entity"])
def test_entity_tricks_are_refused_and_nothing_is_stored(wechat, factory, body: str) -> None:
    response = wechat.post_xml(body)
    assert response.status_code == 400
    assert "root:" not in response.get_data(as_text=True)
    assert stored_messages(factory) == 0 and tickets(factory) == []
