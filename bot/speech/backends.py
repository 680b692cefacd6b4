"""Clients of the speech-to-text servers a community can run itself: each turns a WAV file into words.

- "openai": an OpenAI-compatible `POST /v1/audio/transcriptions` (faster-whisper-server, speaches,
  LocalAI, vLLM...): multipart `file` and `model` (and `language`, `response_format=json`), answering
  `{"text": "..."}`.
- "funasr" with a ws:// or wss:// address: FunASR's runtime WebSocket server in offline (file) mode, the
  one FunASR's deployment guides run (`funasr-wss-server`, runtime/websocket; or runtime/python/websocket's
  `funasr_wss_server.py`), as its own clients speak it (subprotocol "binary"): a JSON start message
  (mode "offline", wav_name, wav_format "pcm", audio_fs, chunk_size, itn, is_speaking true), the sound as
  16-bit PCM in binary frames of 60 ms, then `{"is_speaking": false, "is_end": true}`; the words come
  back as JSON messages of mode "offline" (or "2pass-offline") with "text" (`_offline_answers`).
- "funasr" with an http(s) address: FunASR's runtime HTTP server (`funasr-http-server`, runtime/http):
  multipart with exactly one part, the file (`curl -F "file=@voice.wav"`), to any path; it answers
  `{"text": "...", "mode": "offline", ...}`. Every byte of every part is read as sound, so nothing else
  is sent.

Checked against FunASR's source at commit 3c58cb56a56598232c3efffa15d313d7e82a4307 (modelscope/FunASR,
2026-08-21): runtime/docs/websocket_protocol.md, runtime/python/websocket/funasr_wss_server.py and
funasr_wss_client.py, runtime/websocket/bin/websocket-server.cpp and websocket-server-2pass.cpp,
runtime/http/bin/connection.hpp and model-decoder.cpp.
"""

from __future__ import annotations

import io
import json
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from config.settings import SpeechSettings

# FunASR's WebSocket clients send the sound in strides of 60 * chunk_size[1] / chunk_interval ms
# (funasr_wss_client.py), and runtime/python's server drops audio until a start message set chunk_size.
CHUNK_SIZE, CHUNK_INTERVAL = (5, 10, 5), 10
FRAME_MS = 60 * CHUNK_SIZE[1] // CHUNK_INTERVAL
# The result modes that carry a file's words: "offline", and "2pass-offline" from a 2pass server.
OFFLINE_MODES = ("offline", "2pass-offline")


class SpeechError(RuntimeError):
    """No transcript: the server is down, slow, refused the file, or answered something else."""


class Transcriber(Protocol):
    """Turns a 16 kHz mono WAV file into the words said (SpeechError when it cannot)."""

    def transcribe(self, wav: bytes) -> str: ...


@dataclass(frozen=True)
class OpenAITranscriber:
    """An OpenAI-compatible transcriptions endpoint."""

    url: str
    model: str
    language: str
    api_key: str
    timeout: float

    def transcribe(self, wav: bytes) -> str:
        """POST the file with the model (and language); the answer's "text"."""
        fields = {"model": self.model, "response_format": "json"}
        if self.language:
            fields["language"] = self.language
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return _post(self.url, self.timeout, files=_file_part(wav), data=fields, headers=headers)


@dataclass(frozen=True)
class FunASRTranscriber:
    """FunASR's runtime HTTP server (offline file transcription)."""

    url: str
    timeout: float

    def transcribe(self, wav: bytes) -> str:
        """POST the file as the one part of the form; the answer's "text"."""
        return _post(self.url, self.timeout, files=_file_part(wav))


@dataclass(frozen=True)
class FunASRWebSocketTranscriber:
    """FunASR's runtime WebSocket server, in offline (file transcription) mode."""

    url: str
    timeout: float

    def transcribe(self, wav: bytes) -> str:
        """Send the sound as its clients do, then read the words until the server says it is done."""
        rate, pcm = _pcm(wav)
        deadline = time.monotonic() + self.timeout
        try:
            with connect(
                self.url,
                subprotocols=[Subprotocol("binary")],
                open_timeout=self.timeout,
                close_timeout=1,
                ping_interval=None,
            ) as server:
                server.send(json.dumps(_start_message(rate)))
                frame = rate * 2 * FRAME_MS // 1000
                for start in range(0, len(pcm), frame):
                    server.send(pcm[start : start + frame])
                server.send(json.dumps({"is_speaking": False, "is_end": True}))
                return "".join(_offline_answers(server, deadline)).strip()
        except TimeoutError as exc:
            raise SpeechError("speech server did not finish in time") from exc
        except (OSError, WebSocketException) as exc:
            raise SpeechError(f"speech server unreachable or refused: {type(exc).__name__}") from exc


def _start_message(rate: int) -> dict[str, Any]:
    """The first message: offline mode, raw 16-bit PCM at `rate`, FunASR's default chunking, ITN on."""
    return {
        "mode": "offline",
        "wav_name": "voice",
        "wav_format": "pcm",
        "audio_fs": rate,
        "chunk_size": list(CHUNK_SIZE),
        "chunk_interval": CHUNK_INTERVAL,
        "itn": True,
        "is_speaking": True,
    }


def _offline_answers(server: ClientConnection, deadline: float) -> Iterator[str]:
    """The words of each answer, until the last one; the servers end in three ways (see the cases)."""
    while True:
        message = server.recv(timeout=max(0.0, deadline - time.monotonic()))
        answer = _json_object(message)
        if answer.get("is_end"):
            # runtime/python acknowledges the end message; is_final false means it failed.
            if not answer.get("is_final"):
                raise SpeechError(f"speech server failed: {str(answer.get('error', ''))[:200]}")
            return
        text = answer.get("text")
        if answer.get("mode") in OFFLINE_MODES and isinstance(text, str):
            yield text
        if answer.get("mode") == "offline" and answer.get("is_final") is False:
            return  # funasr-wss-server answers a file once, with is_final false
        if answer.get("mode") != "offline" and answer.get("is_final") is True:
            return  # funasr-wss-server-2pass ends with is_final true


def _json_object(message: str | bytes) -> dict[str, Any]:
    """One answer of the WebSocket server: a JSON object in a text frame."""
    try:
        answer = json.loads(message) if isinstance(message, str) else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise SpeechError("speech server's answer is not a JSON object")
    return answer


def _pcm(wav: bytes) -> tuple[int, bytes]:
    """The WAV file's sample rate and its 16-bit mono samples (what wav_format "pcm" means to FunASR)."""
    try:
        with wave.open(io.BytesIO(wav)) as sound:
            if sound.getnchannels() != 1 or sound.getsampwidth() != 2:
                raise SpeechError("the sound must be 16-bit mono")
            return sound.getframerate(), sound.readframes(sound.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SpeechError(f"not a WAV file: {exc}") from exc


def build_transcriber(speech: SpeechSettings) -> Transcriber | None:
    """The configured server's client, or None when no speech server is set up."""
    if not speech.enabled:
        return None
    if speech.backend == "funasr" and speech.url.startswith(("ws://", "wss://")):
        return FunASRWebSocketTranscriber(speech.url, speech.timeout_seconds)
    if speech.backend == "funasr":
        return FunASRTranscriber(speech.url, speech.timeout_seconds)
    return OpenAITranscriber(
        speech.url, speech.model, speech.language, speech.api_key, speech.timeout_seconds
    )


def _file_part(wav: bytes) -> dict[str, tuple[str, bytes, str]]:
    """The multipart field `file`, named like the WAV file it is (FunASR reads the format from the name)."""
    return {"file": ("voice.wav", wav, "audio/wav")}


def _post(url: str, timeout: float, **request: Any) -> str:
    """POST a form and read the transcript from the JSON answer; SpeechError for anything else."""
    try:
        response = requests.post(url, timeout=timeout, **request)
    except requests.RequestException as exc:
        raise SpeechError(f"speech server unreachable: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise SpeechError(f"speech server answered HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError as exc:
        raise SpeechError("speech server's answer is not JSON") from exc
    text = answer.get("text") if isinstance(answer, dict) else None
    if not isinstance(text, str):
        raise SpeechError("speech server's answer has no text")
    return text.strip()
