"""Replaying the spool while an outage ends: a lost connection never sets a message aside."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from wechatpy import parse_message

from bot.inbound_record import record_from_wechat
from bot.inbox import StorageUnavailable
from bot.spool.file import Spool
from bot.spool.records import SpooledMessage

FALL = (
    "<xml><ToUserName>gh_demo</ToUserName><FromUserName>o-zhang</FromUserName>"
    "<CreateTime>1795000000</CreateTime><MsgType>text</MsgType>"
    "<Content>我妈摔倒了起不来</Content><MsgId>9301</MsgId></xml>"
)


def spool_with_one_message(tmp_path: Path) -> Spool:
    """A spool holding one resident's emergency, kept while the database was away."""
    spool = Spool(tmp_path, "postgresql+psycopg://griddesk@127.0.0.1/griddesk")
    spool.check()
    record = record_from_wechat(parse_message(FALL), FALL)
    spool.keep(SpooledMessage(record, datetime(2026, 11, 28, 18, 7, tzinfo=UTC)))
    return spool


def test_a_connection_lost_while_the_database_comes_back_keeps_the_message_for_the_next_replay(
    tmp_path: Path,
) -> None:
    spool = spool_with_one_message(tmp_path)

    def flapping(_message: SpooledMessage) -> None:
        raise StorageUnavailable("the database is unavailable", away=True)

    # The check that follows the failure finds the database answering again: it is still not a refusal.
    first = spool.replay(flapping, database_up=lambda: True)
    assert (first.replayed, first.rejected, first.waiting) == (0, 0, 1)
    assert not spool.rejected_path.exists()

    stored: list[str] = []
    second = spool.replay(lambda message: stored.append(message.record.incoming.text), lambda: True)
    assert (second.replayed, second.rejected, second.waiting) == (1, 0, 0)
    assert stored == ["我妈摔倒了起不来"]
    assert not spool.pending()


def test_a_message_the_database_refuses_while_up_is_set_aside_for_a_person(tmp_path: Path) -> None:
    spool = spool_with_one_message(tmp_path)

    def refusing(_message: SpooledMessage) -> None:
        raise StorageUnavailable("could not store the inbound message", away=False)

    result = spool.replay(refusing, database_up=lambda: True)
    assert (result.replayed, result.rejected, result.waiting) == (0, 1, 0)
    assert "我妈摔倒了起不来" in spool.rejected_path.read_text()
    assert not spool.pending()
