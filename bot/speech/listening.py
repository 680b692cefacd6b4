"""A voice message without WeChat's transcript, turned into words by the inbox workers, never the webhook.

Its sound is fetched from WeChat at once (it is deleted after 3 days) and kept as the media job would
keep it, decoded from AMR to WAV, and sent to the speech server. Whatever fails (WeChat, the file, the
server) gives no words, and the message opens the call-back ticket it always did: nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.exceptions import WeChatClientException

from bot.media_store import GAVE_UP, MEDIA_LIFETIME, MediaError, download_media, is_gone, record_media_path
from bot.speech.audio import AudioError, to_wav
from bot.speech.backends import SpeechError, Transcriber, build_transcriber
from bot.wechat_api import OfficialAccountClient, official_account_client
from config.settings import Settings
from handlers.context import Incoming
from storage.db import transaction
from storage.models import InboundMessage

log = logging.getLogger(__name__)

# What a voice message sent to be transcribed is answered at once; the receipt follows as a push.
LISTENING = "收到您的语音,正在识别,稍后回复您。如有危险请立即拨打120、119或110。"


def needs_listening(incoming: Incoming) -> bool:
    """A voice message that came without WeChat's transcript (Recognition), with sound to fetch."""
    return incoming.msg_type == "voice" and not incoming.text and bool(incoming.media_id)


class VoiceListener:
    """Gives the words of a stored voice message, or None when they cannot be had."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        client: OfficialAccountClient,
        transcriber: Transcriber,
        media_dir: Path,
        clock: Callable[[], datetime],
    ) -> None:
        self._factory, self._client, self._transcriber = factory, client, transcriber
        self._media_dir, self._clock = media_dir, clock

    def transcript(self, message_id: int, media_id: str, received_at: datetime) -> str | None:
        """The words said in message `message_id`; None when its sound or the server fails us."""
        sound = self._sound(message_id, media_id, received_at)
        if sound is None:
            return None
        try:
            text = self._transcriber.transcribe(to_wav(sound))
        except (AudioError, SpeechError) as exc:
            log.warning("voice message %s not transcribed: %s", message_id, exc)
            return None
        if not text:
            log.info("voice message %s: the speech server heard no words", message_id)
        return text or None

    def _sound(self, message_id: int, media_id: str, received_at: datetime) -> bytes | None:
        """The voice file: the one already saved, else fetched from WeChat now and kept."""
        with transaction(self._factory) as session:
            saved = session.scalar(select(InboundMessage.media_path).where(InboundMessage.id == message_id))
        if saved == GAVE_UP:
            return None
        if saved and Path(saved).is_file():
            return Path(saved).read_bytes()
        if self._clock() - received_at > MEDIA_LIFETIME:
            log.warning("voice message %s expired on WeChat before it could be transcribed", message_id)
            return None
        try:
            path = download_media(self._client, media_id, self._media_dir)
        except requests.RequestException as exc:
            # The media job keeps trying to save it; the ticket cannot wait for that.
            log.warning("voice message %s not fetched, WeChat unreachable: %s", message_id, exc)
            return None
        except (WeChatClientException, MediaError) as exc:
            log.warning("voice message %s cannot be fetched: %s", message_id, exc)
            if is_gone(exc):
                record_media_path(self._factory, message_id, GAVE_UP)
            return None
        record_media_path(self._factory, message_id, str(path))
        return path.read_bytes()


def voice_listener(
    settings: Settings, factory: sessionmaker[Session], clock: Callable[[], datetime]
) -> VoiceListener | None:
    """The listener when a speech server is set up and WeChat can be asked for media (not in sandbox)."""
    transcriber = build_transcriber(settings.speech)
    if transcriber is None or settings.sandbox:
        return None
    client = official_account_client(settings, factory)
    return VoiceListener(factory, client, transcriber, settings.delivery.media_dir, clock)
