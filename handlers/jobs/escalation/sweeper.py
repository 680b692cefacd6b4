"""Running the deadline sweep: every rule, over every ticket it finds due, each in its own transaction.

Each rule selects due tickets with one query on status and a due timestamp, then settles every ticket
in its own transaction after re-reading it, so a sweep that runs twice, or two sweeps at once, act once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from handlers.context import Services
from handlers.domain_settings import DomainSettings
from handlers.jobs.escalation.deadline_warnings import (
    ack_warning_due,
    resolve_warning_due,
    warn_unresolved,
    warn_unsigned,
)
from handlers.jobs.escalation.emergencies import emergency_due, repage_emergency
from handlers.jobs.escalation.missed_signing import escalate, escalation_due
from handlers.jobs.escalation.overdue import overdue_due, page_overdue
from handlers.jobs.escalation.unrated import close_unrated, unrated_due
from handlers.language.intents import IntentClassifier
from handlers.tickets.tally import Tally
from storage.db import bulk_slice, snapshot
from storage.models import Ticket
from storage.repositories import tickets as ticket_queries

log = logging.getLogger(__name__)


@dataclass
class SweepResult(Tally):
    """How many tickets each rule acted on in one sweep."""

    warned: int = 0
    escalated: int = 0
    exhausted: int = 0
    emergency_pages: int = 0
    overdue_pages: int = 0
    closed_unrated: int = 0
    failed: int = 0


Conditions = Callable[[DomainSettings, datetime], list[ColumnElement[bool]]]
# An action returns the SweepResult field to count, or None when the re-read ticket needs nothing yet.
Action = Callable[[Services, Ticket], str | None]


@dataclass(frozen=True)
class Rule:
    """Which tickets are due (a query, re-run on the re-read row) and what to do with one of them."""

    name: str
    due: Conditions
    act: Action


def sweep(
    factory: sessionmaker[Session], settings: DomainSettings, classifier: IntentClassifier, now: datetime
) -> SweepResult:
    """Act on every ticket whose deadline has come, each in its own transaction."""
    result = SweepResult()
    for rule in RULES:
        for ticket_id in _due_ids(factory, rule.due(settings, now)):
            counted = _settle(factory, settings, classifier, now, rule, ticket_id)
            if counted is not None:
                setattr(result, counted, getattr(result, counted) + 1)
    return result


def _due_ids(factory: sessionmaker[Session], conditions: list[ColumnElement[bool]]) -> list[int]:
    """Ids of the tickets a rule's query finds due, read without the write lock."""
    with snapshot(factory) as session:
        return ticket_queries.ids_where(session, conditions)


def _settle(
    factory: sessionmaker[Session],
    settings: DomainSettings,
    classifier: IntentClassifier,
    now: datetime,
    rule: Rule,
    ticket_id: int,
) -> str | None:
    """Re-read one ticket in its own transaction and act only if it is still due."""
    try:
        # A slice of its own: webhook writers get in between two tickets (storage/db.py bulk_slice).
        with bulk_slice(factory) as session:
            ticket = ticket_queries.one_where(session, ticket_id, rule.due(settings, now))
            if ticket is None:
                return None
            return rule.act(Services(session, settings, classifier, now), ticket)
    except StaleDataError:
        log.info("ticket %s changed under the sweep (%s); the other writer wins", ticket_id, rule.name)
        return None
    except Exception:
        # One broken ticket must not hold up every other deadline, emergencies included.
        log.exception("deadline sweep (%s) failed on ticket %s", rule.name, ticket_id)
        return "failed"


# Emergencies first: a sweep that falls behind should fall behind on the least urgent work.
RULES = (
    Rule("emergency", emergency_due, repage_emergency),
    Rule("escalation", escalation_due, escalate),
    Rule("overdue", overdue_due, page_overdue),
    Rule("ack warning", ack_warning_due, warn_unsigned),
    Rule("resolve warning", resolve_warning_due, warn_unresolved),
    Rule("unrated", unrated_due, close_unrated),
)
