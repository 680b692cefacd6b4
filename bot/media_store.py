"""Residents' photos and voice messages, saved before WeChat deletes them (3 days after they were sent)."""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.exceptions import WeChatClientException

from bot.wechat_api import OfficialAccountClient, call_with_fresh_token
from config.settings import Settings
from handlers.tickets.tally import Tally
from storage.db import transaction
from storage.models import InboundMessage

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_FILENAME = re.compile(r'filename="?([^";]+)"?')
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
# WeChat's voice formats, which mimetypes does not know.
_EXTENSIONS = {"audio/amr": ".amr", "audio/speex": ".speex", "audio/x-speex": ".speex"}
MEDIA_TYPES = ("image", "voice")
MEDIA_LIFETIME = timedelta(days=3)
# 40007 invalid media_id: WeChat will never serve this one, so asking again every minute is pointless.
GONE_ERRCODES = frozenset({40007})
# media_path of a message whose media could not be saved in time.
GAVE_UP = ""
BATCH_SIZE = 50


# What the console serves inline, told by the file's first bytes (never by its name, which WeChat chose).
_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_AUDIO_MAGIC = ((b"#!AMR\n", "audio/amr"), (b"OggS", "audio/ogg"), (b"ID3", "audio/mpeg"))
SNIFF_BYTES = 16


def sniffed_type(head: bytes, msg_type: str) -> str | None:
    """The content type of a saved photo or voice file from its first bytes, or None if it is neither."""
    if msg_type == "image":
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return "image/webp"
        return next((kind for magic, kind in _IMAGE_MAGIC if head.startswith(magic)), None)
    if msg_type == "voice":
        return next((kind for magic, kind in _AUDIO_MAGIC if head.startswith(magic)), None)
    return None


class MediaError(RuntimeError):
    """WeChat answered /media/get with something that is not a file (e.g. a video's JSON link)."""


def download_media(client: OfficialAccountClient, media_id: str, dest_dir: Path) -> Path:
    """Fetch one media file (GET /cgi-bin/media/get) into dest_dir; returns where it was saved."""
    response = call_with_fresh_token(client, lambda: client.media.download(media_id))
    if not isinstance(response, requests.Response):
        raise MediaError(f"media {media_id} is not a file: {response!r:.200}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"{_file_stem(media_id)}{_extension(response)}"
    # Written aside, then renamed: a reader never sees half a photo.
    handle, temporary = tempfile.mkstemp(dir=dest_dir, prefix=".partial-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(response.content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _file_stem(media_id: str) -> str:
    """The media id if it is a safe file name, else a digest of it."""
    return media_id if _SAFE_NAME.match(media_id) else hashlib.sha256(media_id.encode()).hexdigest()[:32]


def _extension(response: requests.Response) -> str:
    match = _FILENAME.search(response.headers.get("Content-Disposition", ""))
    suffix = Path(match[1]).suffix.lower() if match else ""
    if _SUFFIX.match(suffix):
        return suffix
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ".bin"


@dataclass
class MediaRun(Tally):
    """What one run of the media job did."""

    saved: int = 0
    waiting: int = 0
    given_up: int = 0


def download_pending_media(
    factory: sessionmaker[Session],
    settings: Settings,
    client: OfficialAccountClient | None,
    now: datetime,
    batch_size: int = BATCH_SIZE,
) -> MediaRun:
    """Save residents' photos and voice not saved yet; give up on those WeChat has already deleted."""
    result = MediaRun()
    if client is None:  # sandbox: there is no WeChat to ask
        return result
    pending = _pending(factory, batch_size)
    for index, (message_id, media_id, received_at) in enumerate(pending):
        if now - received_at > MEDIA_LIFETIME:
            log.warning("media of message %s expired on WeChat before it could be saved", message_id)
            result.given_up += record_media_path(factory, message_id, GAVE_UP)
            continue
        try:
            path = download_media(client, media_id, settings.delivery.media_dir)
        except requests.RequestException as exc:
            # WeChat unreachable: the rest would wait for the same timeout; all are tried next run.
            log.warning("media download stopped, WeChat unreachable: %s", exc)
            result.waiting += len(pending) - index
            break
        except (WeChatClientException, MediaError) as exc:
            if is_gone(exc):
                log.warning("media of message %s cannot be fetched: %s", message_id, exc)
                result.given_up += record_media_path(factory, message_id, GAVE_UP)
            else:
                log.info("media of message %s not saved yet, retrying next run: %s", message_id, exc)
                result.waiting += 1
            continue
        result.saved += record_media_path(factory, message_id, str(path))
    return result


def _pending(factory: sessionmaker[Session], limit: int) -> list[tuple[int, str, datetime]]:
    """Photos and voice messages with a media id and no saved file yet, oldest first."""
    query = (
        select(InboundMessage.id, InboundMessage.media_id, InboundMessage.received_at)
        .where(
            InboundMessage.media_path.is_(None),
            InboundMessage.media_id.is_not(None),
            InboundMessage.msg_type.in_(MEDIA_TYPES),
        )
        .order_by(InboundMessage.id)
        .limit(limit)
    )
    with transaction(factory) as session:
        return [(row.id, row.media_id, row.received_at) for row in session.execute(query)]


def record_media_path(factory: sessionmaker[Session], message_id: int, media_path: str) -> int:
    """Note where the media went (or that it is lost); 0 when another process already did."""
    with transaction(factory) as session:
        done = session.execute(
            update(InboundMessage)
            .where(InboundMessage.id == message_id, InboundMessage.media_path.is_(None))
            .values(media_path=media_path)
        )
        return done.rowcount


def is_gone(exc: Exception) -> bool:
    """A media id WeChat will never serve, or an answer that is not a file (e.g. a video's link)."""
    return isinstance(exc, MediaError) or getattr(exc, "errcode", None) in GONE_ERRCODES
