"""The message the router carries down its table, with what the conditions and actions ask of it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from handlers.context import Incoming, Services
from handlers.language.intents import Classification
from handlers.language.normalize import normalize
from handlers.notices.answering import notice_for_report
from handlers.people.residents import resident_for
from handlers.tickets.core import open_and_awaiting_rating
from storage.models import Notice, Resident, Ticket, Worker
from storage.repositories.staff import worker_id_for


@dataclass
class Message:
    """One message being routed: classified once, its sender looked up once and only when needed."""

    services: Services
    incoming: Incoming
    classification: Classification | None

    @cached_property
    def text(self) -> str:
        """The text or transcript ('' for other messages)."""
        return self.incoming.text or ""

    @cached_property
    def normalized(self) -> str:
        """The text as the rules see it."""
        return normalize(self.text)

    @cached_property
    def is_text(self) -> bool:
        """Text, or a voice message with a transcript."""
        return bool(self.incoming.text) and self.incoming.msg_type in ("text", "voice")

    @cached_property
    def event(self) -> str:
        """The event's name in lower case ('' for messages)."""
        return (self.incoming.event or "").lower() if self.incoming.msg_type == "event" else ""

    @cached_property
    def worker(self) -> Worker | None:
        """The bound worker who sent it, if the sender is one."""
        session = self.services.session
        worker_id = worker_id_for(session, self.incoming.openid)
        return session.get(Worker, worker_id) if worker_id is not None else None

    @cached_property
    def resident(self) -> Resident:
        """The sender as a resident (created on first contact)."""
        return resident_for(self.services, self.incoming.openid)

    @cached_property
    def tickets(self) -> tuple[list[Ticket], Ticket | None]:
        """The resident's open tickets (newest first) and the resolved one waiting for their rating, read
        together. Conditions change nothing, so this holds until a handler runs (forget_tickets)."""
        return open_and_awaiting_rating(self.services, self.resident)

    @cached_property
    def rated(self) -> Ticket | None:
        """The resolved ticket waiting for this resident's rating."""
        return self.tickets[1]

    @property
    def open_tickets(self) -> list[Ticket]:
        """The resident's open tickets, newest first (handlers/tickets/core.py:open_tickets)."""
        return self.tickets[0]

    def forget_tickets(self) -> None:
        """A handler that passed the message on may have changed the resident's tickets: read them again."""
        self.__dict__.pop("tickets", None)

    @cached_property
    def notice(self) -> Notice | None:
        """The notice in force for the sender's building about the outage they report (issue 17)."""
        services = self.services
        return notice_for_report(
            services.session, self.resident, self.classification, self.normalized, services.now
        )

    @property
    def category(self) -> str:
        """The classified category ('other' for messages without text)."""
        return self.classification.category if self.classification else "other"
