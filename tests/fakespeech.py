"""A local speech-to-text server on loopback, speaking the wire protocol of the servers GridDesk supports.

- "openai": `POST /v1/audio/transcriptions`, multipart/form-data with `file` and `model` (and optional
  `language`, `response_format`), answering `{"text": ...}`; a missing field or a file that is not audio
  gets OpenAI's 400 error object, another path 404.
- "funasr": FunASR's runtime HTTP server, which takes a multipart form of exactly one part, the sound
  file, on any path, and answers `{"text": ..., "mode": "offline", "is_final": false, ...}`. It reads every
  part's bytes as sound, so a form with more parts is refused here (400) rather than misheard.

The test chooses what is heard (`says`) and reads what was posted (`heard`: fields and the WAV's format);
`go_down()` stops listening, `answer_with(status)` answers every request with that HTTP status, `delay`
holds every answer back that many seconds (a server busy with longer voices).
"""

from __future__ import annotations

import io
import json
import threading
import time
import wave
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_PATH = "/v1/audio/transcriptions"


@dataclass(frozen=True)
class Heard:
    """One transcription request: its path, text fields, the file's name and its sound's format."""

    path: str
    fields: dict[str, str]
    filename: str
    rate: int
    channels: int
    sample_bytes: int
    seconds: float


@dataclass
class FakeSpeechServer:
    """A speech server for the tests; `start()` listens on a free loopback port."""

    protocol: str = "openai"
    says: str = ""
    heard: list[Heard] = field(default_factory=list)
    status: int | None = None
    delay: float = 0.0
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FakeSpeechServer:
        """Listen on a free loopback port."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        server = self._server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def go_down(self) -> None:
        """Stop listening: connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def answer_with(self, status: int) -> None:
        """Answer every request with this HTTP status (e.g. 500, or 503 while a model loads)."""
        self.status = status

    @property
    def url(self) -> str:
        """The address GridDesk is configured with: the endpoint for "openai", the server for "funasr"."""
        assert self._server is not None
        base = f"http://127.0.0.1:{self._server.server_address[1]}"
        return base + OPENAI_PATH if self.protocol == "openai" else base + "/"

    def answer(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """The status and JSON answer to one POST."""
        if self.status is not None:
            return self.status, {"error": {"message": "unavailable", "type": "server_error"}}
        if self.protocol == "openai" and path != OPENAI_PATH:
            return 404, {"detail": "Not Found"}
        parts = _form_parts(content_type, body)
        if parts is None:
            return 400, _openai_error("expected multipart/form-data")
        files = {name: part for name, part in parts if part.get_filename()}
        fields = {name: part.get_content() for name, part in parts if not part.get_filename()}
        if "file" not in files:
            return 400, _openai_error("file is required")
        if self.protocol == "openai" and not fields.get("model"):
            return 400, _openai_error("model is required")
        if self.protocol == "funasr" and len(parts) != 1:
            return 400, {"error": "one part only: the sound file"}
        heard = _heard(path, fields, files["file"])
        if heard is None:
            return 400, _openai_error("the file is not a WAV file the server can read")
        self.heard.append(heard)
        if self.protocol == "funasr":
            return 200, {"text": self.says, "mode": "offline", "is_final": False, "wav_name": ""}
        return 200, {"text": self.says}


def _openai_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


def _form_parts(content_type: str, body: bytes) -> list[tuple[str, Message]] | None:
    """The (name, part) pairs of a multipart/form-data body, or None when it is not one."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        return None
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            return None
        parts.append((name, part))
    return parts


def _heard(path: str, fields: dict[str, str], file: Message) -> Heard | None:
    """What the file's WAV header says, or None when it is not a WAV file."""
    data = file.get_payload(decode=True)
    try:
        with wave.open(io.BytesIO(data)) as wav:
            rate, channels, width, frames = (
                wav.getframerate(),
                wav.getnchannels(),
                wav.getsampwidth(),
                wav.getnframes(),
            )
    except (wave.Error, EOFError):
        return None
    return Heard(path, fields, file.get_filename() or "", rate, channels, width, frames / rate)


def _handler_for(fake: FakeSpeechServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(fake.delay)
            status, answer = fake.answer(self.path, self.headers.get("Content-Type", ""), body)
            payload = json.dumps(answer, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
