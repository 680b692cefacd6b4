"""A grid worker's photos and voice go with the ticket they are working on, never to a resident's queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from config.settings import Settings
from storage.db import transaction
from storage.models import InboundMessage
from tests.conftest import pushes, tickets
from tests.e2e.console_support import console_settings, make_account, sign_in

ZHANG, LIU = "demo-resident-zhang", "demo-resident-liu"  # grid G1 (王芳), grid G2 (李骁)
WANG, ZHAO = "demo-worker-wang", "demo-leader-zhao"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Sandbox settings with photos saved under tmp_path (the console serves them from there)."""
    return console_settings(tmp_path)


def photo(wechat, openid: str, media_id: str = "result-1") -> str | None:
    return wechat.reply(wechat.post(openid, "image", PicUrl="http://example.invalid/p.jpg", MediaId=media_id))


def resident_texts(factory, openid: str = ZHANG) -> list[str]:
    return [p.text for p in pushes(factory) if p.recipient == openid]


def linked_ticket(factory, media_id: str) -> int | None:
    with transaction(factory) as session:
        query = select(InboundMessage.ticket_id).where(InboundMessage.media_id == media_id)
        return session.scalar(query)


def test_a_workers_photo_goes_with_the_ticket_they_work_on_and_the_resident_hears_of_it(
    wechat, factory
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")  # #1, 王芳's
    wechat.say(WANG, "签收 1")
    reply = photo(wechat, WANG)
    assert reply.startswith("照片已附在工单 #1。") and "办结时会告诉居民" in reply
    assert len(tickets(factory)) == 1  # no 留言 ticket for the duty desk (nor the public Open311 list)
    assert linked_ticket(factory, "result-1") == 1
    assert "照片已附在工单 #1" in photo(wechat, WANG, "result-2")

    wechat.say(WANG, "办结 1 已换了新水管")
    rating_request = resident_texts(factory)[-1]
    assert "已换了新水管" in rating_request and "办理结果的照片(2张)" in rating_request
    assert "回复 1 满意" in rating_request
    assert [e.kind for e in tickets(factory)[0].events][-3:] == ["worker_photo", "worker_photo", "resolve"]


def test_without_a_photo_the_rating_request_says_nothing_of_one(wechat, factory) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "办结 1 已修好")
    assert "照片" not in resident_texts(factory)[-1]


def test_a_photo_just_after_resolving_is_attached_and_the_resident_told_once(wechat, factory) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "办结 1 已修好")
    assert photo(wechat, WANG) == "照片已附在工单 #1。已告诉居民。"
    assert photo(wechat, WANG, "result-2") == "照片已附在工单 #1。"
    told = [text for text in resident_texts(factory) if "办理结果的照片" in text]
    assert told == ["工单 #1:网格员拍下了办理结果的照片(1张),已存入工单记录,如需查看可联系网格员或社区。"]
    assert linked_ticket(factory, "result-2") == 1


def test_a_workers_photo_with_no_recent_work_asks_which_ticket_and_opens_none(wechat, factory, clock) -> None:
    assert (
        photo(wechat, WANG)
        == "请先回复“进度 工单号 说明”或“办结 工单号 说明”,再发照片,照片会附在那个工单上。"
    )
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "进度 1 明天上午来修")
    clock.advance(hours=25)  # a day later the guess could be the wrong resident's ticket
    assert photo(wechat, WANG, "result-2").startswith("请先回复")
    assert len(tickets(factory)) == 1 and linked_ticket(factory, "result-2") is None
    assert not [p for p in pushes(factory) if "补充了一张照片" in p.text]


def test_a_photo_never_lands_on_a_ticket_that_is_no_longer_the_workers(wechat, factory) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "签收 1")
    wechat.say(ZHAO, "转派 1 李骁")
    assert photo(wechat, WANG).startswith("请先回复")
    assert linked_ticket(factory, "result-1") is None


def test_a_workers_voice_goes_with_the_ticket_and_a_said_command_is_run(wechat, factory) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "签收 1")
    voice = wechat.reply(wechat.post(WANG, "voice", MediaId="voice-1", Format="amr", Recognition=""))
    assert voice == "语音已附在工单 #1。"
    assert linked_ticket(factory, "voice-1") == 1
    said = wechat.reply(
        wechat.post(WANG, "voice", MediaId="voice-2", Format="amr", Recognition="办结1,已修好。")
    )
    assert "工单 #1 已办结" in said
    assert tickets(factory)[0].status == "resolved" and len(tickets(factory)) == 1


def test_a_workers_voice_with_no_recent_work_asks_which_ticket(wechat, factory) -> None:
    reply = wechat.reply(wechat.post(WANG, "voice", MediaId="voice-1", Format="amr", Recognition=""))
    assert reply == "请先回复“进度 工单号 说明”或“办结 工单号 说明”,再发语音,语音会附在那个工单上。"
    assert tickets(factory) == []


def test_the_console_shows_the_workers_photo_on_the_ticket_page(
    app, wechat, factory, clock, settings
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "签收 1")
    photo(wechat, WANG)
    saved = settings.delivery.media_dir / "result-1.jpg"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    with transaction(factory) as session:
        message = session.scalars(select(InboundMessage).where(InboundMessage.media_id == "result-1")).one()
        message.media_path, message_id = str(saved), message.id
    make_account(factory, clock, "王芳", "wangfang", "worker")
    client = app.test_client()
    sign_in(client, "wangfang")
    page = client.get("/console/tickets/1").get_data(as_text=True)
    assert f'src="/console/media/{message_id}"' in page and "网格员上传的办理结果照片" in page
    assert "上传照片" in page
    with client.get(f"/console/media/{message_id}") as served:
        assert (served.status_code, served.mimetype) == (200, "image/jpeg")
