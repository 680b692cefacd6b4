"""A local speech-to-text server on loopback, speaking the wire protocol of the servers GridDesk supports.

- "openai": `POST /v1/audio/transcriptions`, multipart/form-data with `file` and `model` (and optional
  `language`, `response_format`), answering `{"text": ...}`; a missing field or a file that is not audio
  gets OpenAI's 400 error object, another path 404.
- "funasr": FunASR's runtime HTTP server, which takes a multipart form of exactly one part, the sound
  file, on any path, and answers `{"text": ..., "mode": "offline", "is_final": false, ...}` as
  text/html (runtime/http/bin/model-decoder.cpp, reply.cpp). It reads every part's bytes as sound, so a
  form with more parts is refused here (400) rather than misheard.

`FakeFunASRWebSocket` plays FunASR's runtime WebSocket server in offline mode, in the two ways FunASR
ships it; see its docstring. Both were checked against modelscope/FunASR at commit
3c58cb56a56598232c3efffa15d313d7e82a4307 (2026-08-21): runtime/docs/websocket_protocol.md,
runtime/python/websocket/funasr_wss_server.py, funasr_wss_client.py, runtime/websocket/bin/
websocket-server.cpp, and runtime/http/bin/ for the HTTP server.

The test chooses what is heard (`says`) and reads what was posted (`heard`: fields and the WAV's format);
`go_down()` stops listening, `answer_with(status)` answers every request with that HTTP status, `delay`
holds every answer back that many seconds (a server busy with longer voices).
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import wave
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve
from websockets.typing import Subprotocol

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
    # FunASR's WebSocket servers: the start message the client sent.
    start: dict[str, Any] = field(default_factory=dict)


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
            # wav_name is the request's Content-Disposition filename, which a multipart request has not.
            return 200, {"text": self.says, "mode": "offline", "is_final": False, "wav_name": ""}
        return 200, {"text": self.says}


@dataclass
class FakeFunASRWebSocket:
    """FunASR's runtime WebSocket server in offline mode (speech.backend "funasr", a ws:// url).

    - flavor "python", runtime/python/websocket/funasr_wss_server.py: the handshake must offer the
      subprotocol "binary" (the server lists it, and websockets then answers 400 to a client offering
      none); text frames are JSON (mode, wav_name, audio_fs, chunk_size, is_speaking, is_end...); binary
      frames are 16-bit PCM at audio_fs, dropped (an error) until a start message set chunk_size;
      `{"is_speaking": false}` ends the input: one answer per stretch of speech VAD found (here: per
      clause of `says`, split after ,。!?), each `{"mode": "offline", "text", "wav_name", "is_final": true}`,
      then with `"is_end": true` the acknowledgement `{"mode", "wav_name", "is_final": <no error>,
      "is_end": true}` (and "error").
    - flavor "cpp", runtime/websocket/bin/websocket-server.cpp (`funasr-wss-server`, FunASR's docker
      image for file transcription): any subprotocol; binary frames appended as they come;
      `is_speaking` false (or `is_finished` true) ends the input and gets one answer,
      `{"text", "mode": "offline", "is_final": false, "wav_name"}`; is_end means nothing to it.

    A WAV file sent as "pcm" is heard with its header as sound (`header_heard`); other formats are
    decoded by FFmpeg on the real servers, which the fake does not do: it refuses them (no answer).
    """

    flavor: str = "python"
    says: str = ""
    heard: list[Heard] = field(default_factory=list)
    delay: float = 0.0
    status: int | None = None
    errors: list[str] = field(default_factory=list)
    header_heard: bool = False
    protocol: str = "funasr"
    _server: Server | None = None

    def start(self) -> FakeFunASRWebSocket:
        """Listen on a free loopback port."""
        subprotocols = [Subprotocol("binary")] if self.flavor == "python" else None
        self._server = serve(
            self._serve,
            "127.0.0.1",
            0,
            subprotocols=subprotocols,
            ping_interval=None,
            process_request=self._refuse,
        )
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def go_down(self) -> None:
        """Stop listening: connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def answer_with(self, status: int) -> None:
        """Refuse every handshake with this HTTP status (a proxy in front answering 502, say)."""
        self.status = status

    @property
    def url(self) -> str:
        """The address GridDesk is configured with."""
        assert self._server is not None
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"

    def _refuse(self, connection: ServerConnection, _request: Request) -> Response | None:
        if self.status is None:
            return None
        return connection.respond(HTTPStatus(self.status), "unavailable\n")

    def _serve(self, connection: ServerConnection) -> None:
        session = _Session(path=connection.request.path if connection.request else "/")
        try:
            for message in connection:
                if isinstance(message, bytes):
                    self._sound(session, message)
                    continue
                try:
                    start = json.loads(message)
                except ValueError:
                    continue  # both servers log a bad message and go on
                if not isinstance(start, dict):
                    continue
                session.configure(start)
                ended = start.get("is_speaking") is False or (
                    self.flavor == "cpp" and start.get("is_finished") is True
                )
                if ended:
                    self._answer(connection, session, acknowledge=bool(start.get("is_end")))
        except ConnectionClosed:
            pass

    def _sound(self, session: _Session, frame: bytes) -> None:
        if self.flavor == "python" and "chunk_size" not in session.start:
            self.errors.append("audio frame discarded: chunk_size is not configured")
            session.errors.append("audio frame discarded: chunk_size is not configured")
            return
        session.audio += frame

    def _answer(self, connection: ServerConnection, session: _Session, *, acknowledge: bool) -> None:
        time.sleep(self.delay)
        heard = self._hear(session)
        name = session.start.get("wav_name", "microphone" if self.flavor == "python" else "wav-default-id")
        if self.flavor == "cpp":
            text = self.says if heard else ""
            answer = {"text": text, "mode": "offline", "is_final": False, "wav_name": name}
            connection.send(json.dumps(answer, ensure_ascii=False))
            session.audio = b""
            return
        if heard:
            for clause in re.findall(r"[^,。!?]+[,。!?]?", self.says) or [""]:
                answer = {"mode": "offline", "text": clause, "wav_name": name, "is_final": True}
                connection.send(json.dumps(answer, ensure_ascii=False))
        if acknowledge:
            ack = {"mode": "offline", "wav_name": name, "is_final": not session.errors, "is_end": True}
            if session.errors:
                ack["error"] = "; ".join(session.errors)
            connection.send(json.dumps(ack, ensure_ascii=False))
        session.audio, session.errors = b"", []

    def _hear(self, session: _Session) -> bool:
        """Record what was sent as sound; False when there was none."""
        audio, start = session.audio, session.start
        if not audio:
            return False
        if start.get("wav_format", "pcm") != "pcm":
            return False
        self.header_heard = self.header_heard or audio.startswith(b"RIFF")
        rate = int(start.get("audio_fs", 16000))
        self.heard.append(Heard(session.path, {}, "", rate, 1, 2, len(audio) / 2 / rate, dict(start)))
        return True


@dataclass
class _Session:
    """One connection to the fake FunASR server: the start message's fields so far, the sound sent."""

    path: str
    start: dict[str, Any] = field(default_factory=dict)
    audio: bytes = b""
    errors: list[str] = field(default_factory=list)

    def configure(self, message: dict[str, Any]) -> None:
        """Take the fields a text message sets (a later one overrides an earlier)."""
        self.start |= {k: v for k, v in message.items() if k not in ("is_speaking", "is_end", "is_finished")}
        mode = message.get("mode")
        if mode is not None and mode not in ("online", "offline", "2pass"):
            self.errors.append(f"unsupported mode: {mode!r}")


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
            if fake.protocol == "funasr" and status == 200:
                # funasr-http-server: the JSON and a newline, labelled text/html (runtime/http/bin/reply.cpp).
                payload += b"\n"
            self.send_response(status)
            is_html = fake.protocol == "funasr" and status == 200
            self.send_header("Content-Type", "text/html;charset=utf-8" if is_html else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
