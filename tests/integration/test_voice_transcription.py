"""Voice without WeChat's transcript: answered at once, its sound fetched from WeChat and transcribed by the
community's speech server, then routed like a text; with no words to be had, the call-back ticket.

Real signed XML through the webhook, a fake WeChat serving the voice file (a real AMR-NB recording,
tests/data/voice-sample.amr) and a local speech server speaking the OpenAI or FunASR protocol (FunASR's
HTTP server, and its WebSocket server as runtime/python and runtime/websocket ship it: tests/fakespeech.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from bot.app import QUEUED, create_app, inbox_workers
from bot.backlog import Backlog
from bot.channels import build_messenger
from bot.dispatcher import dispatch_due
from bot.media_store import download_pending_media
from bot.speech.listening import LISTENING
from bot.wechat_api import official_account_client
from config.settings import Settings
from handlers.language.intents import IntentClassifier
from storage.db import transaction
from storage.models import InboundMessage
from tests.conftest import pushes, tickets
from tests.e2e.console_support import make_account, sign_in, text
from tests.fakespeech import FakeFunASRWebSocket, FakeSpeechServer
from tests.fakewechat import FakeWeChat
from tests.integration.conftest import live_settings
from tests.support import FakeClock, WeChatServer

ZHANG, LIU = "demo-resident-zhang", "demo-resident-liu"
WANG, ZHAO = "demo-worker-wang", "demo-leader-zhao"
SAMPLE = (Path(__file__).parents[1] / "data" / "voice-sample.amr").read_bytes()
FALL, LEAK = "我爸摔倒了起不来", "卫生间水管漏水了"
FALL_TOLD = "我爸在卫生间摔倒了,站不起来"  # with a pause: two stretches of speech


@pytest.fixture
def speech() -> Iterator[FakeSpeechServer]:
    server = FakeSpeechServer().start()
    yield server
    server.go_down()


def voice_app(
    tmp_path: Path,
    fake_wechat: FakeWeChat,
    server: FakeSpeechServer | FakeFunASRWebSocket,
    factory,
    clock,
    classifier,
    backlog: Backlog | None = None,
    timeout: str = "5",
) -> Flask:
    """The app in live mode, its speech server the fake one."""
    settings: Settings = live_settings(
        tmp_path,
        fake_wechat,
        GRIDDESK_SPEECH_BACKEND=server.protocol,
        GRIDDESK_SPEECH_URL=server.url,
        GRIDDESK_SPEECH_TIMEOUT_SECONDS=timeout,
    )
    app: Flask = create_app(settings, factory, classifier, clock, backlog=backlog)
    app.config["settings"] = settings
    return app


@pytest.fixture
def app(tmp_path, fake_wechat, speech, factory, clock, classifier: IntentClassifier) -> Flask:
    return voice_app(tmp_path, fake_wechat, speech, factory, clock, classifier)


def webhook(app: Flask, clock: FakeClock) -> WeChatServer:
    settings: Settings = app.config["settings"]
    return WeChatServer(app.test_client(), settings.wechat, clock)


def send_voice(
    app: Flask, clock: FakeClock, media_id: str = "VOICE_1", recognition: str = "", sender: str = ZHANG
) -> str | None:
    """ZHANG (or `sender`) sends a voice message; WeChat's Recognition field empty, as it will always be."""
    wechat = webhook(app, clock)
    fields = {"MediaId": media_id, "Format": "amr", "Recognition": recognition}
    return wechat.reply(wechat.post(sender, "voice", **fields))


def stored_voice(factory) -> InboundMessage:
    with transaction(factory) as session:
        return session.scalar(select(InboundMessage).where(InboundMessage.msg_type == "voice"))


def receipt_to(factory, openid: str) -> str:
    [receipt] = [p.text for p in pushes(factory) if p.kind == "reply" and p.recipient == openid]
    return receipt


def test_an_emergency_said_by_voice_is_handled_as_one(app, factory, clock, fake_wechat, speech) -> None:
    fake_wechat.add_media("VOICE_1", SAMPLE, "audio/amr", "VOICE_1.amr")
    speech.says = FALL
    assert send_voice(app, clock) == LISTENING  # at once: nothing slow inside WeChat's 5 seconds
    assert tickets(factory) == [] and fake_wechat.api_calls == 0 and speech.heard == []

    assert inbox_workers(app).drain() == 1
    [heard] = speech.heard
    assert heard.fields == {"model": "whisper-1", "response_format": "json", "language": "zh"}
    assert (heard.rate, heard.channels, heard.sample_bytes) == (16000, 1, 2)  # decoded from 8 kHz AMR
    assert heard.seconds == pytest.approx(2.0, abs=0.1)
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.summary) == ("emergency", FALL)
    paged = {p.recipient for p in pushes(factory) if p.kind == "emergency"}
    assert {WANG, ZHAO} <= paged
    # The resident's phone gets the advice, as a customer-service message inside the 48-hour window.
    fake_wechat.user_wrote(ZHANG)
    settings: Settings = app.config["settings"]
    dispatch_due(factory, build_messenger(settings, factory, clock), settings.dispatcher, clock())
    [sent] = [s for s in fake_wechat.sent if s.to == ZHANG]
    assert "120" in sent.payload["text"]["content"] and f"#{ticket.id}" in sent.payload["text"]["content"]


def test_under_a_backlog_a_voice_is_heard_before_requests_known_to_wait(
    tmp_path, factory, clock, classifier, fake_wechat, speech
) -> None:
    ticks = [0.0]
    backlog = Backlog(lambda: ticks[0])
    app = voice_app(tmp_path, fake_wechat, speech, factory, clock, classifier, backlog)
    with backlog.in_hand():
        ticks[0] += 5  # the webhook is jammed: LIU's request is queued
        assert webhook(app, clock).say(LIU, "帮忙交一下水电费") == QUEUED.request
        fake_wechat.add_media("VOICE_1", SAMPLE, "audio/amr", "VOICE_1.amr")
        speech.says = FALL
        assert send_voice(app, clock) == LISTENING
    assert inbox_workers(app).drain() == 2
    first, second = tickets(factory)
    assert (first.category, second.category) == ("emergency", "bill")


def test_a_repair_said_by_voice_opens_a_ticket_that_keeps_the_words(app, factory, clock, fake_wechat, speech):
    fake_wechat.add_media("VOICE_1", SAMPLE, "audio/amr", "VOICE_1.amr")
    speech.says = LEAK
    send_voice(app, clock)
    assert inbox_workers(app).drain() == 1
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.kind, ticket.assignee.name) == ("repair", "water", "王芳")
    assert ticket.summary == LEAK
    message = stored_voice(factory)
    assert (message.content, message.ticket_id) == (LEAK, ticket.id)
    # The sound is kept (the console plays it) and the media job will not fetch it again.
    settings: Settings = app.config["settings"]
    assert Path(message.media_path) == settings.delivery.media_dir / "VOICE_1.amr"
    assert Path(message.media_path).read_bytes() == SAMPLE
    assert fake_wechat.calls["/cgi-bin/media/get"] == 1
    receipt = receipt_to(factory, ZHANG)
    assert f"#{ticket.id}" in receipt and "王芳" in receipt
    assert any(p.recipient == WANG and LEAK in p.text for p in pushes(factory))
    # On the console the worker reads the words beside the voice they can play.
    make_account(factory, clock, "王芳", "wangfang", "worker")
    console = app.test_client()
    sign_in(console, "wangfang")
    page = console.get(f"/console/tickets/{ticket.id}")
    assert f"语音转文字:{LEAK}" in text(page) and "<audio controls" in page.get_data(as_text=True)


def test_a_voice_the_media_job_saved_first_is_not_fetched_again(app, factory, clock, fake_wechat, speech):
    fake_wechat.add_media("VOICE_1", SAMPLE, "audio/amr", "VOICE_1.amr")
    speech.says = LEAK
    send_voice(app, clock)
    settings: Settings = app.config["settings"]
    saved = download_pending_media(factory, settings, official_account_client(settings, factory), clock())
    assert saved.saved == 1
    assert inbox_workers(app).drain() == 1
    assert tickets(factory)[0].summary == LEAK
    assert fake_wechat.calls["/cgi-bin/media/get"] == 1


def test_a_worker_signs_for_a_ticket_by_voice(app, factory, clock, fake_wechat, speech) -> None:
    assert "#1" in webhook(app, clock).say(ZHANG, LEAK)
    fake_wechat.add_media("VOICE_2", SAMPLE, "audio/amr", "VOICE_2.amr")
    speech.says = "签收1"
    assert send_voice(app, clock, "VOICE_2", sender=WANG) == LISTENING
    assert inbox_workers(app).drain() == 1
    [ticket] = tickets(factory)
    assert ticket.status == "acknowledged"
    assert "#1" in receipt_to(factory, WANG)


def test_with_the_speech_server_down_the_voice_opens_a_call_back_ticket(
    app, factory, clock, fake_wechat, speech
):
    fake_wechat.add_media("VOICE_1", SAMPLE, "audio/amr", "VOICE_1.amr")
    speech.go_down()
    send_voice(app, clock)
    assert inbox_workers(app).drain() == 1
    [ticket] = tickets(factory)
    assert ticket.kind == "voice" and "请回电" in ticket.summary
    assert "语音留言" in receipt_to(factory, ZHANG)
    assert stored_voice(factory).media_path  # the worker can still play it


def test_a_speech_server_in_trouble_costs_no_message(app, factory, clock, fake_wechat, speech) -> None:
    fake_wechat.add_media("VOICE_1", SAMPLE, "audio/amr", "VOICE_1.amr")
    speech.answer_with(503)
    send_voice(app, clock)
    assert inbox_workers(app).drain() == 1
    [ticket] = tickets(factory)
    assert ticket.kind == "voice" and stored_voice(factory).status == "handled"


def test_a_speech_server_too_slow_to_answer_costs_no_message(
    tmp_path, factory, clock, classifier, fake_wechat, speech
) -> None:
    app = voice_app(tmp_path, fake_wechat, speech, factory, clock, classifier, timeout="1")
    fake_wechat.add_media("VOICE_1", SAMPLE, "audio/amr", "VOICE_1.amr")
    speech.says, speech.delay = LEAK, 3
    send_voice(app, clock)
    assert inbox_workers(app).drain() == 1
    [ticket] = tickets(factory)
    assert ticket.kind == "voice" and "请回电" in ticket.summary


def test_a_voice_whose_media_is_unavailable_opens_a_call_back_ticket(
    app, factory, clock, fake_wechat, speech
):
    send_voice(app, clock, media_id="NEVER_UPLOADED")  # WeChat answers 40007 invalid media_id
    assert inbox_workers(app).drain() == 1
    [ticket] = tickets(factory)
    assert ticket.kind == "voice" and "请回电" in ticket.summary
    assert speech.heard == []
    assert stored_voice(factory).media_path == ""  # given up: the media job does not ask again


def test_a_voice_whose_media_expired_opens_a_call_back_ticket(
    app, factory, clock, fake_wechat, speech
) -> None:
    fake_wechat.add_media("VOICE_1", SAMPLE, "audio/amr", "VOICE_1.amr")
    speech.says = LEAK
    send_voice(app, clock)
    # The inbox workers were down for more than WeChat's 3 days.
    clock.advance(days=3, hours=1)
    fake_wechat.advance(3 * 86400 + 3600)
    assert inbox_workers(app).drain() == 1
    [ticket] = tickets(factory)
    assert ticket.kind == "voice" and fake_wechat.api_calls == 0 and speech.heard == []


def test_a_damaged_voice_file_opens_a_call_back_ticket(app, factory, clock, fake_wechat, speech) -> None:
    fake_wechat.add_media("VOICE_1", b"#!AMR\nnot-sound-at-all", "audio/amr", "VOICE_1.amr")
    speech.says = LEAK
    send_voice(app, clock)
    assert inbox_workers(app).drain() == 1
    [ticket] = tickets(factory)
    assert ticket.kind == "voice" and speech.heard == []


def test_a_voice_with_wechat_s_transcript_is_handled_at_once_as_before(app, factory, clock, speech) -> None:
    reply = send_voice(app, clock, recognition=LEAK)
    assert "#1" in reply and reply != LISTENING
    assert tickets(factory)[0].category == "repair" and speech.heard == []


def say_once_to(server, tmp_path, fake_wechat, factory, clock, classifier) -> None:
    """One voice message, answered "listening" and transcribed by this speech server, which then goes down."""
    try:
        app = voice_app(tmp_path, fake_wechat, server, factory, clock, classifier)
        fake_wechat.add_media("VOICE_1", SAMPLE, "audio/amr", "VOICE_1.amr")
        assert send_voice(app, clock) == LISTENING
        assert inbox_workers(app).drain() == 1
    finally:
        server.go_down()


def test_the_funasr_server_is_spoken_to_in_its_own_protocol(
    tmp_path, factory, clock, classifier, fake_wechat
) -> None:
    funasr = FakeSpeechServer(protocol="funasr", says=LEAK).start()
    say_once_to(funasr, tmp_path, fake_wechat, factory, clock, classifier)
    [heard] = funasr.heard
    assert (heard.fields, heard.filename, heard.rate) == ({}, "voice.wav", 16000)  # one part: the file
    assert tickets(factory)[0].summary == LEAK


@pytest.mark.parametrize("flavor", ["python", "cpp"])
def test_funasr_s_websocket_server_hears_the_voice_as_its_own_clients_send_it(
    tmp_path, factory, clock, classifier, fake_wechat, flavor: str
) -> None:
    funasr = FakeFunASRWebSocket(flavor=flavor, says=FALL_TOLD).start()
    say_once_to(funasr, tmp_path, fake_wechat, factory, clock, classifier)
    [heard] = funasr.heard
    assert heard.start == {
        "mode": "offline",
        "wav_name": "voice",
        "wav_format": "pcm",
        "audio_fs": 16000,
        "chunk_size": [5, 10, 5],
        "chunk_interval": 10,
        "itn": True,
    }
    # The samples alone, as FunASR's clients send a WAV file: no header heard as sound.
    assert heard.seconds == pytest.approx(2.0, abs=0.1) and not funasr.header_heard
    assert funasr.errors == []
    # The python server answers each stretch of speech apart ("我爸在卫生间摔倒了," and "站不起来"): all kept.
    [ticket] = tickets(factory)
    assert (ticket.category, ticket.summary) == ("emergency", FALL_TOLD)


def test_the_fake_funasr_websocket_server_refuses_what_funasr_refuses(fake_wechat) -> None:
    funasr = FakeFunASRWebSocket(says=LEAK).start()
    try:
        with pytest.raises(InvalidStatus) as refused:  # no subprotocol "binary": websockets answers 400
            connect(funasr.url).close()
        assert refused.value.response.status_code == 400
        with connect(funasr.url, subprotocols=[Subprotocol("binary")]) as server:
            server.send(json.dumps({"mode": "offline", "wav_name": "voice", "is_speaking": True}))
            server.send(b"\0\0" * 16000)  # before any chunk_size: dropped
            server.send(json.dumps({"is_speaking": False, "is_end": True}))
            ack = json.loads(server.recv(timeout=5))
    finally:
        funasr.go_down()
    assert ack["is_end"] is True and ack["is_final"] is False and "chunk_size" in ack["error"]
    assert funasr.heard == []


def test_a_funasr_websocket_server_too_slow_or_down_costs_no_message(
    tmp_path, factory, clock, classifier, fake_wechat
) -> None:
    funasr = FakeFunASRWebSocket(says=LEAK, delay=2).start()
    app = voice_app(tmp_path, fake_wechat, funasr, factory, clock, classifier, timeout="1")
    fake_wechat.add_media("VOICE_1", SAMPLE, "audio/amr", "VOICE_1.amr")
    send_voice(app, clock)
    assert inbox_workers(app).drain() == 1
    funasr.go_down()
    fake_wechat.add_media("VOICE_2", SAMPLE, "audio/amr", "VOICE_2.amr")
    send_voice(app, clock, "VOICE_2", sender=LIU)
    assert inbox_workers(app).drain() == 1
    assert [(t.kind, "请回电" in t.summary) for t in tickets(factory)] == [("voice", True), ("voice", True)]
