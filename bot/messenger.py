"""How a push leaves GridDesk: the messenger protocol, its outcomes, and the sandbox console messenger."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TextIO


@dataclass(frozen=True)
class Push:
    """One outbox row as a messenger sees it, with what is known about how to reach the recipient."""

    outbox_id: int
    kind: str
    recipient: str
    recipient_name: str
    text: str
    ticket_id: int | None = None
    worker_id: int | None = None
    resident_id: int | None = None
    openid: str | None = None
    wecom_userid: str | None = None
    # When the recipient last did something that opens WeChat's customer-service window.
    last_interaction_at: datetime | None = None
    subscribed: bool = True
    # The channel the row was queued for: "auto" (the messenger chooses), or the one its sweep chose
    # ("subscription", "custom") for a daily check-in ping, which never falls back to a template.
    channel: str = "auto"


@dataclass(frozen=True)
class Delivery:
    """How a push went out: the channel used and the platform's message id, when it gives one."""

    channel: str
    msgid: str | None = None


class SendError(Exception):
    """The push was not delivered; the dispatcher will retry it later."""


class Unreachable(SendError):
    """The platform did not answer (refused, timed out, 5xx, busy): an outage, not this push's fault."""


class Undeliverable(SendError):
    """The recipient cannot receive pushes (unfollowed, blocked us, unknown): retrying will not help."""

    def __init__(self, message: str, *, unsubscribed: bool = False) -> None:
        super().__init__(message)
        self.unsubscribed = unsubscribed


class Throttled(SendError):
    """A quota is used up: try again after retry_after, without counting this as a failed try."""

    def __init__(self, message: str, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Held(SendError):
    """A resident's routine push that neither a customer-service send nor a template can carry now: it
    waits for their next message (which is told of it), without spending a try."""


# Pushes to residents that go first and are never held or folded: emergencies and receipts of messages
# finished late (`reply`), a family's alert, and the alert that a page did not arrive.
FIRST_KINDS = frozenset({"emergency", "urgent", "reply", "family_alert", "delivery_failed"})
# The last customer-service send of a window is kept for these: the first kinds and the rating request.
LAST_SEND_KINDS = FIRST_KINDS | {"rating_request"}
# Sends of a window that routine pushes (progress, signed for ...) leave for LAST_SEND_KINDS.
KEPT_SENDS = 1


# News of a moment (a notice of an outage): never held for a later message or folded into ticket news;
# what cannot carry it leaves it undelivered, and the worker posts it (the notice's to-post list).
TIMELY_KINDS = frozenset({"notice"})


def can_wait(push: Push) -> bool:
    """A resident's push that may be held for their next message (not staff, not an emergency or receipt)."""
    return (
        push.worker_id is None
        and push.resident_id is not None
        and push.kind not in FIRST_KINDS
        and push.kind not in TIMELY_KINDS
    )


def sends_kept_from(push: Push) -> int:
    """How many customer-service sends of the window this push must leave for more pressing ones."""
    return 0 if push.worker_id is not None or push.kind in LAST_SEND_KINDS else KEPT_SENDS


class Messenger(Protocol):
    """Anything that can deliver a push or raise SendError."""

    channel: str
    # True when the platform limits pushes per staff member (WeCom): the dispatcher then paces them.
    paces_staff: bool

    def send(self, push: Push) -> Delivery | None:
        """Deliver one push; None means it went out on the messenger's own channel."""


class ConsoleMessenger:
    """Sandbox delivery: prints each push where the person running GridDesk can read it."""

    channel = "console"
    paces_staff = False  # a terminal has no limits to respect

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, push: Push) -> Delivery | None:
        """Print the push as the recipient would read it on their phone."""
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(
                f"\n── 推送 → {push.recipient_name}({push.recipient})[{push.kind}] ──\n{push.text}\n"
            )
            stream.flush()
        return None
