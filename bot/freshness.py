"""Is a /wechat request fresh? Its signed timestamp is inside the window, and its nonce no other message's.

WeChat signs token, timestamp and nonce; in plaintext mode the signature does not cover the body. So a
captured query string is a key to the webhook: the window limits it to a few minutes, and the nonce
memory (storage/nonces.py) lets it carry only the message it was made for. The same (timestamp, nonce)
with the same message is WeChat retrying, and goes on to the MsgId de-duplication like any retry.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from config.settings import WebhookSettings
from storage.nonces import NonceClaim, forget_expired_nonces

# WeChat sends Unix seconds and a short numeric nonce; anything else was not signed by WeChat's servers.
TIMESTAMP = re.compile(r"[0-9]{1,12}")
NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")

Clock = Callable[[], datetime]


class Refused(Exception):
    """A request GridDesk will not act on: a short reason for the 403, and a detail for the log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class RequestGuard:
    """Checks /wechat requests against the app's clock and makes the claims on their nonces."""

    clock: Clock
    settings: WebhookSettings

    def check_timestamp(self, timestamp: str, nonce: str) -> None:
        """Refused unless the timestamp is within the window of now (either way) and the nonce is sane."""
        if not TIMESTAMP.fullmatch(timestamp) or not NONCE.fullmatch(nonce):
            raise Refused("missing or malformed timestamp or nonce")
        skew = int(timestamp) - self.clock().timestamp()
        if abs(skew) > self.settings.timestamp_window_seconds:
            raise Refused("stale timestamp", f"{skew:+.0f} s from our clock")

    def claim(self, timestamp: str, nonce: str, message: str) -> NonceClaim:
        """The claim the message's transaction makes (storage/nonces.py): refused there when its
        (timestamp, nonce) already came with another message, kept with it in the spool otherwise."""
        return NonceClaim(int(timestamp), nonce, hashlib.sha256(message.encode()).hexdigest())


def prune_nonces(factory: sessionmaker[Session], settings: WebhookSettings, now: datetime) -> int:
    """Forget nonces whose requests are stale now; returns how many."""
    # Twice the window: a process whose clock lags this one's still finds every nonce it would accept.
    horizon = int(now.timestamp()) - 2 * settings.timestamp_window_seconds
    return forget_expired_nonces(factory, horizon)
