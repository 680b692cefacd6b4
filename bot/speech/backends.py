"""Clients of the speech-to-text servers a community can run itself: each turns a WAV file into words.

- "openai": an OpenAI-compatible `POST /v1/audio/transcriptions` (faster-whisper-server, speaches,
  LocalAI, vLLM...): multipart `file` and `model` (and `language`, `response_format=json`), answering
  `{"text": "..."}`.
- "funasr": FunASR's runtime HTTP server (`funasr-http-server`, runtime/http in the FunASR repository):
  multipart with exactly one part, the file (`curl -F "file=@voice.wav"`), to any path; it answers
  `{"text": "...", "mode": "offline", ...}`. Every byte of every part is read as sound, so nothing else
  is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import requests

from config.settings import SpeechSettings


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


def build_transcriber(speech: SpeechSettings) -> Transcriber | None:
    """The configured server's client, or None when no speech server is set up."""
    if not speech.enabled:
        return None
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
