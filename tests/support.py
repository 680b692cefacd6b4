"""Test helpers: a movable clock, a resident's phone that talks to the webhook like WeChat does, and the
app on a real loopback server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from bot.simulator import SignedRequest, message_xml, read_reply, sign
from config.settings import WeChatSettings
from storage.db import transaction
from storage.models import InboundMessage

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


@dataclass
class FakeClock:
    """A clock tests move by hand instead of sleeping."""

    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        """The current fake time."""
        return self.now

    def advance(self, **kwargs: float) -> None:
        """Move time forward, e.g. advance(minutes=5)."""
        self.now += timedelta(**kwargs)


def real_time() -> datetime:
    """The wall clock, for apps built without a FakeClock."""
    return datetime.now(UTC)


@dataclass
class WeChatServer:
    """Sends what WeChat's servers would send to /wechat: signed, and encrypted in safe mode.

    It signs with the time of `clock`, which must be the clock the app was given: the webhook refuses
    requests signed too far from its own time. Each listener hears every message posted (its plain XML),
    as WeChat itself would: the fake WeChat opens the sender's customer-service window from it.
    """

    client: FlaskClient
    wechat: WeChatSettings
    clock: Callable[[], datetime] = real_time
    listeners: list[Callable[[str], None]] = field(default_factory=list)
    # The webhook's address: /wechat/<slug> for a community other than a deployment's first.
    path: str = "/wechat"

    def post(self, openid: str, msg_type: str = "text", **fields: str) -> TestResponse:
        """POST one message or event; returns the raw HTTP response."""
        body = message_xml(openid, msg_type, fields)
        return self.post_xml(body)

    def post_xml(self, body: str) -> TestResponse:
        """POST a prepared XML body, signed (and encrypted) as WeChat would."""
        for listener in self.listeners:
            listener(body)
        return self.send(self.sign(body))

    def sign(self, body: str, *, at: datetime | None = None) -> SignedRequest:
        """A body signed (and encrypted) as WeChat would, now by the clock or at `at`, with a fresh nonce."""
        w = self.wechat
        timestamp = int((at or self.clock()).timestamp())
        return sign(w.token, body, aes_key=w.aes_key, appid=w.appid, timestamp=timestamp)

    def send(self, signed: SignedRequest) -> TestResponse:
        """POST a signed request exactly as given: WeChat's retry of it, or an attacker's replay."""
        return self.client.post(self.path, query_string=signed.params, data=signed.body.encode())

    def reply(self, response: TestResponse) -> str | None:
        """The text the resident sees for a response."""
        assert response.status_code == 200, response.get_data(as_text=True)
        w = self.wechat
        return read_reply(response.get_data(as_text=True), token=w.token, aes_key=w.aes_key, appid=w.appid)

    def say(self, openid: str, text: str) -> str | None:
        """A resident sends text; returns what they see."""
        return self.reply(self.post(openid, "text", Content=text))

    def event(self, openid: str, event: str, key: str | None = None) -> str | None:
        """A resident's follow, unfollow or menu tap; returns what they see."""
        fields = {"Event": event} | ({"EventKey": key} if key else {})
        return self.reply(self.post(openid, "event", **fields))


@contextmanager
def on_loopback(app: WSGIApplication) -> Iterator[str]:
    """The app (a Flask app, or a street's whole WSGI app) on a real threaded HTTP server on loopback;
    yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def send_saved_photo(
    wechat: WeChatServer, factory: sessionmaker[Session], media_dir: Path, openid: str
) -> Path:
    """A resident sends a photo, and it is saved as the media download job would: returns its file."""
    wechat.post(openid, "image", PicUrl="http://example.invalid/p.jpg", MediaId="photo-1")
    photo = media_dir / "photo-1.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    with transaction(factory) as session:
        image = session.scalars(select(InboundMessage).where(InboundMessage.media_id == "photo-1")).one()
        image.media_path = str(photo)
    return photo
