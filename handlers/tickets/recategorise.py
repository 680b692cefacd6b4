"""改类: a leader corrects a ticket's category; an emergency found that way is paged at once.

Every correction is audited, and `run.py routing misses` lists the texts staff recategorised, so the
router's real misses feed the next edit of config/intents.toml.
"""

from __future__ import annotations

from datetime import timedelta

from handlers.context import Services
from handlers.messages.emergency import ADVICE, DEFAULT_ADVICE
from handlers.texts import CATEGORY_LABELS
from handlers.tickets.actions import on_ticket
from handlers.tickets.core import OPEN_STATUSES, UNSIGNED, new_ticket_push, people_to_page, record_event
from handlers.tickets.lifecycle import tell_resident, tell_worker
from handlers.tickets.outcome import Outcome, Refusal, Told, done, refused
from storage.models import Ticket, Worker

RECATEGORISE = "recategorise"
MAY_RECATEGORISE = ("leader", "community", "street")
# What staff may write after 改类 N: the labels residents see, the short forms people say, the codes.
CATEGORY_WORDS = {
    **{label: key for key, label in CATEGORY_LABELS.items() if key != "knock"},
    **{key: key for key in CATEGORY_LABELS if key != "knock"},
    "紧急": "emergency",
    "维修": "repair",
    "看病": "health",
    "就医": "health",
    "纠纷": "dispute",
    "其他": "other",
}
# The categories staff may choose: every one but the door-knock, which only the check-ins open.
CHOICES = frozenset(key for key in CATEGORY_LABELS if key != "knock")


def category_choices() -> str:
    """The categories staff may choose, as they read them: '报修、咨询、…' (a door-knock is the system's)."""
    return "、".join(label for key, label in CATEGORY_LABELS.items() if key != "knock")


def category_of(word: str) -> str | None:
    """The category a word staff wrote or chose names (a label, a short form, a code); None if none."""
    return CATEGORY_WORDS.get(word.strip())


def recategorise(services: Services, worker: Worker, number: int, category: str | None) -> Outcome:
    """Change the ticket's category (leaders and offices); to emergency, page as an emergency now."""

    def operate(ticket: Ticket) -> Outcome:
        if worker.role not in MAY_RECATEGORISE:
            return refused(RECATEGORISE, number, ticket, Refusal.NOT_PERMITTED)
        if category not in CHOICES:
            return refused(RECATEGORISE, number, ticket, Refusal.UNKNOWN_CATEGORY)
        if ticket.status not in OPEN_STATUSES:
            return refused(RECATEGORISE, number, ticket, Refusal.NOT_NOW)
        if category == ticket.category:
            return refused(RECATEGORISE, number, ticket, Refusal.UNCHANGED)
        before, status = ticket.category, ticket.status
        ticket.category, ticket.kind, ticket.updated_at = category, None, services.now
        note = f"{CATEGORY_LABELS[before]}→{CATEGORY_LABELS[category]}"
        record_event(services, ticket, RECATEGORISE, worker.name, note)
        told = _page_as_emergency(services, ticket) if category == "emergency" else []
        return done(RECATEGORISE, ticket, status, told, category_before=before)

    return on_ticket(services, worker, RECATEGORISE, number, operate)


def _page_as_emergency(services: Services, ticket: Ticket) -> list[Told | None]:
    """Urgent priority, the emergency sign-for window, the holder and the leader paged, the resident told."""
    result = services.classifier.classify(ticket.summary)
    ticket.kind = result.kind if result.category == "emergency" else None
    ticket.priority = "urgent"
    if ticket.status in UNSIGNED:
        ticket.ack_due_at = services.now + timedelta(
            minutes=services.settings.deadline("emergency").ack_minutes
        )
        ticket.last_paged_at, ticket.ack_warned_at, ticket.repeat_pages = services.now, None, 0
    ticket.resolve_due_at = min(
        ticket.resolve_due_at,
        services.now + timedelta(hours=services.settings.deadline("emergency").resolve_hours),
    )
    push = new_ticket_push(services, ticket, heading="改为紧急")
    told = [
        tell_worker(services, person, ticket, push, "emergency")
        for person in people_to_page(services.session, ticket)
    ]
    advice = ADVICE.get(ticket.kind or "", DEFAULT_ADVICE)
    told.append(
        tell_resident(
            services,
            ticket,
            f"您的工单 #{ticket.id} 已按紧急求助处理,工作人员马上联系您。\n{advice}",
            kind="emergency",
        )
    )
    return told
