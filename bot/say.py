"""`run.py say`: play a resident on WeChat against a running GridDesk and show what happens."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TextIO

import requests
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.parser import parse_message

from bot.console.links import without_tokens
from bot.inbound_record import record_from_wechat
from bot.simulator import message_xml, read_reply, sign
from config.settings import Settings
from handlers.texts import PUSH_STATUS_LABELS
from storage.db import transaction
from storage.listings import outbox_rows
from storage.queries import message_id_for

NOT_REACHED = (
    "Is `uv run run.py` running? `say` sends to --url if given, else to the address a running server "
    "wrote to its address file (server.address_file, GRIDDESK_SERVER_ADDRESS_FILE; default "
    "var/server.json), else to server.host and server.port (GRIDDESK_SERVER_HOST, GRIDDESK_SERVER_PORT)."
)
NOT_DISPATCHED = (
    "(pushes still 待发送 after {seconds:g} s: they wait in the outbox until a dispatcher sends them. "
    "Is the scheduler running? `uv run run.py` (serve) runs one; `serve --workers` needs "
    "`uv run run.py scheduler` beside it. `uv run run.py outbox` shows them later.)"
)


@dataclass(frozen=True)
class Utterance:
    """What the resident sends: a message type and its WeChat fields."""

    msg_type: str
    fields: dict[str, str]


def utterance(
    text: str | None,
    *,
    voice: bool = False,
    image: bool = False,
    click: str | None = None,
    event: str | None = None,
    location: str | None = None,
) -> Utterance:
    """Turn the say command's options into one WeChat message or event."""
    if click:
        return Utterance("event", {"Event": "CLICK", "EventKey": click})
    if event:
        return Utterance("event", {"Event": event})
    if voice:
        return Utterance(
            "voice", {"MediaId": f"demo-voice-{time.time_ns()}", "Format": "amr", "Recognition": text or ""}
        )
    if image:
        return Utterance(
            "image", {"MediaId": f"demo-image-{time.time_ns()}", "PicUrl": "http://127.0.0.1/demo.jpg"}
        )
    if location:
        lat, lng, *label = location.split(",", 2)
        return Utterance(
            "location",
            {"Location_X": lat, "Location_Y": lng, "Scale": "15", "Label": label[0] if label else ""},
        )
    if not text:
        raise ValueError("say what? give a text, or --voice, --image, --click, --event or --location")
    return Utterance("text", {"Content": text})


def say(
    settings: Settings,
    factory: sessionmaker[Session],
    openid: str,
    said: Utterance,
    url: str,
    out: TextIO,
    wait_seconds: float = 10.0,
    source: str = "",
) -> int:
    """Send one signed message, print the resident's reply and the pushes it caused; exit status.

    `source` says where `url` came from, for the message when nothing answers there.
    """
    body = message_xml(openid, said.msg_type, said.fields)
    wechat = settings.wechat
    signed = sign(wechat.token, body, aes_key=wechat.aes_key, appid=wechat.appid)
    try:
        response = requests.post(url, params=signed.params, data=signed.body.encode(), timeout=10)
    except requests.RequestException as exc:
        came_from = f" (from {source})" if source else ""
        out.write(f"Could not reach GridDesk at {url}{came_from}: {exc}\n{NOT_REACHED}\n")
        return 1
    if response.status_code != 200:
        out.write(f"GridDesk answered {response.status_code}: {response.text.strip()}\n")
        return 1
    reply = read_reply(response.text, token=wechat.token, aes_key=wechat.aes_key, appid=wechat.appid)
    out.write(f"【{openid} 看到的回复】\n{reply or '(无回复)'}\n")
    key = record_from_wechat(parse_message(body), body).dedup_key
    _print_pushes(factory, key, out, wait_seconds)
    return 0


def _print_pushes(factory: sessionmaker[Session], dedup_key: str, out: TextIO, wait_seconds: float) -> None:
    """Wait for the dispatcher to send this message's pushes, then show them."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with transaction(factory) as session:
            message_id = message_id_for(session, dedup_key)
            rows = outbox_rows(session.connection(), message_id=message_id) if message_id else []
        if all(row["status"] != "pending" for row in rows) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if message_id is None:
        out.write("(this database has no record of the message: is the server using the same database?)\n")
        return
    if not rows:
        out.write("【推送】无(这条消息没有产生推送)\n")
    for row in reversed(rows):
        status = PUSH_STATUS_LABELS.get(row["status"], row["status"])
        text = without_tokens(row["text"])
        out.write(f"【推送 → {row['recipient_name']}({row['recipient']})· {status}】\n{text}\n")
    if any(row["status"] == "pending" for row in rows):
        out.write(NOT_DISPATCHED.format(seconds=wait_seconds) + "\n")
