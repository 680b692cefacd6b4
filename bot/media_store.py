"""Residents' photos and voice messages, saved before WeChat deletes them (3 days after they were sent)."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import tempfile
from pathlib import Path

import requests

from bot.wechat_api import OfficialAccountClient, call_with_fresh_token

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_FILENAME = re.compile(r'filename="?([^";]+)"?')
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
# WeChat's voice formats, which mimetypes does not know.
_EXTENSIONS = {"audio/amr": ".amr", "audio/speex": ".speex", "audio/x-speex": ".speex"}


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
