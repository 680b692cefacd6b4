"""Messages waiting in the spool survive an upgrade, and a template receipt keeps its MsgID and Status there.

The spool holds residents' messages while the database is away; a deployment upgraded in that moment
replays, with the new release, the lines the previous one wrote.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from wechatpy import parse_message

from bot.app import spool_replayer
from bot.inbound_record import record_from_wechat
from bot.simulator import message_xml
from bot.spool import SpooledMessage
from config.settings import Settings
from storage.db import transaction
from storage.models import InboundMessage, OutboxMessage, Worker
from storage.outbox import queue_push
from tests.conftest import make_settings, pushes, tickets

WANG, LIU = "demo-worker-wang", "demo-resident-liu"
TEMPLATE_MSGID = 3147483650
# Two lines exactly as the release before one Incoming (spool format 1) wrote them during an outage:
# a resident's text, and WeChat's report that Wang blocked a template message.
FORMAT_1_LINES = (
    "ce7ff928 "
    '{"v":1,"received_at":"2026-11-23T02:00:00+00:00","record":{"dedup_key":"msg:9401",'
    '"openid":"demo-resident-liu","msg_type":"text","raw":"<xml><ToUserName><![CDATA[gh_griddesk_demo]]>'
    "</ToUserName><FromUserName><![CDATA[demo-resident-liu]]></FromUserName><CreateTime>1795000000"
    "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>卫生间水管漏水了</Content><MsgId>9401</MsgId>"
    '</xml>","content":"卫生间水管漏水了","media_id":null,"event":null,"event_key":null,"latitude":null,'
    '"longitude":null,"label":null},"nonce":{"timestamp":1795399200,"nonce":"2296403262",'
    '"digest":"1398c6c4643395b09a33ccd7780d71c15869a1079b0a2d5f79e271c6c05673f6"}}\n'
    "4592dc45 "
    '{"v":1,"received_at":"2026-11-23T02:00:00+00:00","record":{"dedup_key":"msg:3147483650",'
    '"openid":"demo-worker-wang","msg_type":"event","raw":"<xml><ToUserName><![CDATA[gh_griddesk_demo]]>'
    "</ToUserName><FromUserName><![CDATA[demo-worker-wang]]></FromUserName><CreateTime>1795000100"
    "</CreateTime><MsgType><![CDATA[event]]></MsgType><Event>TEMPLATESENDJOBFINISH</Event>"
    '<MsgID>3147483650</MsgID><Status>failed:user block</Status></xml>","content":null,"media_id":null,'
    '"event":"templatesendjobfinish","event_key":null,"latitude":null,"longitude":null,"label":null},'
    '"nonce":{"timestamp":1795399200,"nonce":"5056472622",'
    '"digest":"04eba13bf761ea6023ee21586df1a513991fd43597801cbd1e097be7c93c3ddf"}}\n'
).encode()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Sandbox settings with the spool in the test's folder."""
    return make_settings(tmp_path, GRIDDESK_SPOOL_DIR=str(tmp_path / "spool"))


def sent_template(factory: sessionmaker[Session], now: datetime, msgid: int) -> int:
    """A reminder sent to Wang as a template message WeChat has not reported on yet; its outbox id."""
    with transaction(factory) as session:
        wang = session.scalars(select(Worker).where(Worker.openid == WANG)).one()
        outbox_id = queue_push(session, now, kind="deadline_warning", text="【提醒】请处理工单", worker=wang)
        row = session.get_one(OutboxMessage, outbox_id)
        row.status, row.channel, row.wechat_msgid, row.attempts = "sent", "template", str(msgid), 1
        return outbox_id


def outbox_row(factory: sessionmaker[Session], outbox_id: int) -> OutboxMessage:
    """One outbox row, fresh from the database."""
    with transaction(factory) as session:
        return session.get_one(OutboxMessage, outbox_id)


def test_a_spool_written_by_the_previous_release_replays_after_the_upgrade(app, factory, clock) -> None:
    template = sent_template(factory, clock(), TEMPLATE_MSGID)
    replayer = spool_replayer(app)
    replayer.spool.directory.mkdir(parents=True)
    replayer.spool.path.write_bytes(FORMAT_1_LINES)

    result = replayer.replay_now()

    assert (result.replayed, result.damaged, result.rejected, result.waiting) == (2, 0, 0, 0)
    [leak] = tickets(factory)
    assert (leak.resident.openid, leak.category) == (LIU, "repair")
    [reply] = [p for p in pushes(factory) if p.kind == "reply"]
    assert reply.recipient == LIU and f"工单号 #{leak.id}" in reply.text
    with transaction(factory) as session:
        stored = session.scalars(select(InboundMessage).where(InboundMessage.dedup_key == "msg:9401")).one()
        assert stored.content == "卫生间水管漏水了" and stored.ticket_id == leak.id
    # The receipt format 1 kept only in its XML still settles the push: Wang refused template messages.
    settled = outbox_row(factory, template)
    assert (settled.status, settled.receipt) == ("undeliverable", "failed:user block")
    assert not replayer.spool.pending()


def test_a_template_receipt_kept_in_the_spool_settles_its_push_at_replay(app, factory, clock) -> None:
    template = sent_template(factory, clock(), TEMPLATE_MSGID)
    fields = {"Event": "TEMPLATESENDJOBFINISH", "MsgID": str(TEMPLATE_MSGID), "Status": "success"}
    xml = message_xml(WANG, "event", fields, create_time=1_795_000_200)
    replayer = spool_replayer(app)
    replayer.spool.keep(SpooledMessage(record_from_wechat(parse_message(xml), xml), clock()))

    assert replayer.replay_now().replayed == 1

    settled = outbox_row(factory, template)
    assert (settled.status, settled.receipt) == ("sent", "success")
    assert not [p for p in pushes(factory) if p.kind == "reply"]  # WeChat's report is answered by nobody
