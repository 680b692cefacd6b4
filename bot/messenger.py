"""How a push leaves GridDesk. The console messenger serves sandbox mode; WeChat channels slot in later."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from typing import Protocol, TextIO


@dataclass(frozen=True)
class Push:
    """One outbox row as a messenger sees it."""

    outbox_id: int
    kind: str
    recipient: str
    recipient_name: str
    text: str


class SendError(Exception):
    """The push was not delivered; the dispatcher will retry it later."""


class Messenger(Protocol):
    """Anything that can deliver a push or raise SendError."""

    channel: str

    def send(self, push: Push) -> None:
        """Deliver one push."""


class ConsoleMessenger:
    """Sandbox delivery: prints each push where the person running GridDesk can read it."""

    channel = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, push: Push) -> None:
        """Print the push as the recipient would read it on their phone."""
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(
                f"\n── 推送 → {push.recipient_name}({push.recipient})[{push.kind}] ──\n{push.text}\n"
            )
            stream.flush()
