"""The receipt of a message queued under overload reaches the resident's phone through the outbox.

Inside WeChat's 48-hour window it is a customer-service message with the whole reply; outside it (the
inbox workers were down for days, say) it goes as the outbox sends anything then: a template message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from bot.app import QUEUED, create_app, inbox_workers
from bot.backlog import Backlog
from bot.channels import build_messenger
from bot.dispatcher import dispatch_due
from config.settings import Settings
from handlers.language.intents import IntentClassifier
from tests.conftest import pushes, tickets
from tests.fakewechat import FakeWeChat, Sent
from tests.integration.conftest import live_settings
from tests.support import FakeClock, WeChatServer

ZHANG = "demo-resident-zhang"
LEAK = "卫生间水管漏水了"


@pytest.fixture
def queued_leak(
    tmp_path: Path, factory, clock: FakeClock, classifier: IntentClassifier, fake_wechat: FakeWeChat
) -> tuple[Settings, Flask]:
    """Live settings; ZHANG reports a leak while the webhook is jammed: it is queued, answered at once."""
    live = live_settings(tmp_path, fake_wechat, GRIDDESK_INBOX_QUEUE_AFTER_SECONDS="2")
    ticks = [0.0]
    backlog = Backlog(lambda: ticks[0])
    app: Flask = create_app(live, factory, classifier, clock, backlog=backlog)
    with backlog.in_hand():
        ticks[0] += 5
        reply = WeChatServer(app.test_client(), live.wechat, clock).say(ZHANG, LEAK)
    assert reply == QUEUED.request
    fake_wechat.user_wrote(ZHANG)
    return live, app


def _receipt_sent(factory, clock, queued_leak, fake_wechat) -> Sent:
    """Finish the queued message, run the dispatcher; the one call that reached ZHANG."""
    settings, app = queued_leak
    assert inbox_workers(app).drain() == 1
    dispatch_due(factory, build_messenger(settings, factory, clock), settings.dispatcher, clock())
    [sent] = [s for s in fake_wechat.sent if s.to == ZHANG]
    return sent


def test_inside_the_window_the_receipt_is_a_customer_service_message(
    queued_leak, factory, clock, fake_wechat
) -> None:
    clock.advance(seconds=30)
    sent = _receipt_sent(factory, clock, queued_leak, fake_wechat)
    [ticket] = tickets(factory)
    assert sent.api == "custom"
    text = sent.payload["text"]["content"]
    assert "发来的消息已处理" in text and f"#{ticket.id}" in text and "王芳" in text
    [receipt] = [p for p in pushes(factory) if p.recipient == ZHANG]
    assert (receipt.kind, receipt.status, receipt.channel) == ("reply", "sent", "custom")


def test_outside_the_window_the_receipt_goes_as_a_template_message(
    queued_leak, factory, clock, fake_wechat
) -> None:
    clock.advance(hours=49)  # the workers were down two days: WeChat's 48-hour window has closed
    sent = _receipt_sent(factory, clock, queued_leak, fake_wechat)
    assert (sent.api, sent.payload["template_id"]) == ("template", "tpl-default")
    assert fake_wechat.calls["/cgi-bin/message/custom/send"] == 0
    [receipt] = [p for p in pushes(factory) if p.recipient == ZHANG]
    assert (receipt.kind, receipt.status, receipt.channel) == ("reply", "sent", "template")
