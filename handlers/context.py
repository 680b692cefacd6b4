"""What every handler receives and returns: plain values, no XML or HTTP."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from handlers.clock import Clock
from handlers.domain_settings import DomainSettings
from handlers.language.intents import IntentClassifier


@dataclass(frozen=True)
class TemplateReceipt:
    """WeChat's word on a template message it was asked to send (TEMPLATESENDJOBFINISH)."""

    id: int  # the template message's MsgID, as the send call returned it
    status: str


@dataclass(frozen=True)
class Incoming:
    """One message or event from a resident, already verified, decrypted and parsed."""

    openid: str
    msg_type: str
    text: str | None = None
    media_id: str | None = None
    event: str | None = None
    event_key: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    label: str | None = None
    receipt: TemplateReceipt | None = None
    # A subscription-message event's (template id, status) pairs: accept, reject, sent or failed:<why>.
    subscriptions: tuple[tuple[str, str], ...] = ()
    # The stored row's id: None until the inbox stores the message, always set for a handler.
    message_id: int | None = None


@dataclass(frozen=True)
class Services:
    """The narrow set of dependencies a handler may use, for one unit of work."""

    session: Session
    settings: DomainSettings
    classifier: IntentClassifier
    now: datetime
    # The inbound message being handled (None for scheduled work): pushes it causes are traced to it.
    message_id: int | None = None

    def caused_by(self, message_id: int) -> Services:
        """The same unit of work, its pushes traced to the inbound message `message_id`."""
        return replace(self, message_id=message_id)


@dataclass(frozen=True)
class Dependencies:
    """What every unit of work shares (settings, classifier, clock): the one maker of their Services."""

    settings: DomainSettings
    classifier: IntentClassifier
    clock: Clock

    def services(self, session: Session, message_id: int | None = None) -> Services:
        """Services for one unit of work in `session`, at the clock's now, caused by `message_id` if any."""
        return Services(session, self.settings, self.classifier, self.clock(), message_id)


@dataclass(frozen=True)
class Reply:
    """What the resident sees (None: acknowledge silently) and the ticket the message belongs to."""

    text: str | None
    ticket_id: int | None = None
