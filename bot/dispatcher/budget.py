"""Residents' pushes planned against their customer-service window: superseded news dropped, a crowd folded.

WeChat lets 5 customer-service messages follow a resident's message within 48 hours (storage/windows.py),
and a ticket's life alone can need more. Before each dispatcher run claims rows, for every resident with
routine pushes waiting:

- a push that newer news has made wrong is not sent (`superseded`): "signed for" once the ticket is
  resolved, closed or cancelled; a rating request once the ticket is no longer waiting for one;
- when more routine pushes are due than the window has sends for them (the last send is kept for
  emergencies, receipts and the rating request, which also go first), they are folded into one `updates`
  push, as staff digests fold (rows `folded`, `folded_into` naming it), so nothing is lost or sent twice.

What still finds no send left when it is sent is held for the resident's next message or goes as a
template (bot/channels.py). Emergencies, receipts and family alerts are never dropped, folded or held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from bot.dispatcher.claims import _Run
from bot.messenger import KEPT_SENDS, LAST_SEND_KINDS, TIMELY_KINDS
from storage.capabilities import CUSTOMER_SERVICE
from storage.db import transaction
from storage.models import OutboxMessage, Ticket
from storage.outbox import fold_into
from storage.windows import allowances_of, window_open

UPDATES_KIND = "updates"
NEVER_FOLDED = LAST_SEND_KINDS | TIMELY_KINDS | {UPDATES_KIND}
# Items one `updates` push spells out, and how much of each; the rest are counted.
LISTED_AT_MOST, ITEM_CHARS = 10, 150
# A push that a later state of its ticket makes wrong: kind -> the ticket states in which it still holds.
STILL_TRUE_IN = {
    "acknowledged": frozenset({"acknowledged", "in_progress"}),
    "rating_request": frozenset({"resolved"}),
}


@dataclass
class Plan:
    """What planning did in one dispatcher run."""

    superseded: int = 0
    folded: int = 0
    released: int = 0


class Channels(Protocol):
    """What planning asks of the messenger: may the account use an API, can a template carry a kind."""

    def may_use(self, api: str, now: datetime) -> bool:
        """False once settings or WeChat (48001) said the account may not use this API."""

    def template_carries(self, kind: str, now: datetime) -> bool:
        """True when a template message may carry a push of this kind."""


def plan_residents(run: _Run, channels: Channels | None = None) -> Plan:
    """Drop superseded pushes to residents, fold what their windows cannot carry one by one, and send
    as templates the news held for a conversation that ended without a next message."""
    plan = Plan()
    if not run.paced:
        return plan  # the sandbox's console has no windows to respect
    now = run.lease_clock()
    with transaction(run.factory) as session:
        query = select(OutboxMessage).where(_plannable(now, ("pending", "held"))).order_by(OutboxMessage.id)
        waiting = list(session.scalars(query))
        plan.superseded = _drop_superseded(session, waiting)
        crowded = _crowded(session, [row for row in waiting if row.status == "pending"], now)
        ended = _held_past_conversation(session, now)
    if channels is not None:
        plan.released = _release(run, [row for row in ended if channels.template_carries(row.kind, now)], now)
    if channels is not None and not channels.may_use(CUSTOMER_SERVICE, now):
        return plan  # templates carry one push each: nothing to gain by folding
    for openid in crowded:
        plan.folded += _fold_for(run, openid, now)
    return plan


def _held_past_conversation(session: Session, now: datetime) -> list[OutboxMessage]:
    """News held while its resident was in conversation, whose 48 hours passed without a next message."""
    held = list(session.scalars(select(OutboxMessage).where(_plannable(now, ("held",)))))
    windows = allowances_of(session, {row.recipient for row in held})
    return [row for row in held if not windows[row.recipient].in_conversation(now)]


def _release(run: _Run, rows: Sequence[OutboxMessage], now: datetime) -> int:
    """Send these held pushes as templates now (what nothing can carry stays held; 我的工单 shows it)."""
    if not rows:
        return 0
    release = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([row.id for row in rows]), OutboxMessage.status == "held")
        .values(
            status="pending",
            next_attempt_at=now,
            last_error="the conversation ended without a next message: sent as a template",
        )
        .execution_options(synchronize_session=False)
    )
    with transaction(run.factory) as session:
        return session.execute(release).rowcount


def _crowded(session: Session, rows: Sequence[OutboxMessage], now: datetime) -> list[str]:
    """The residents whose due routine pushes outnumber the sends their window has for them."""
    due: dict[str, list[OutboxMessage]] = {}
    for row in rows:
        if row.next_attempt_at <= now:
            due.setdefault(row.recipient, []).append(row)
    candidates = {openid for openid, mine in due.items() if sum(r.kind not in NEVER_FOLDED for r in mine) > 1}
    windows = allowances_of(session, candidates)
    return sorted(o for o in candidates if _fold_needed(due[o], windows[o].sends_left(now)))


def _fold_needed(rows: Sequence[OutboxMessage], left: int) -> bool:
    """More routine pushes than the sends left for them, and at least one send to carry them together."""
    routine = sum(1 for row in rows if row.kind not in NEVER_FOLDED)
    pressing = sum(1 for row in rows if row.kind in LAST_SEND_KINDS)
    room = left - max(pressing, KEPT_SENDS)
    return routine >= 2 and 1 <= room < routine


def _plannable(now: datetime, statuses: tuple[str, ...] = ("pending",)) -> ColumnElement[bool]:
    """Pushes to residents still waiting and held by no dispatcher."""
    return and_(
        OutboxMessage.status.in_(statuses),
        OutboxMessage.resident_id.is_not(None),
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )


def _drop_superseded(session: Session, rows: Sequence[OutboxMessage]) -> int:
    """Mark `superseded` the waiting pushes their ticket's later state made wrong; returns how many."""
    ids = {row.ticket_id for row in rows if row.kind in STILL_TRUE_IN and row.ticket_id is not None}
    if not ids:
        return 0
    tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(ids)))}
    dropped = 0
    for row in rows:
        ticket = tickets.get(row.ticket_id) if row.ticket_id is not None else None
        if ticket is None or row.kind not in STILL_TRUE_IN:
            continue
        if ticket.status not in STILL_TRUE_IN[row.kind] or (row.kind == "rating_request" and ticket.rating):
            row.status, row.last_error = "superseded", f"ticket #{ticket.id} is {ticket.status} now"
            dropped += 1
    return dropped


def _fold_for(run: _Run, openid: str, now: datetime) -> int:
    """Fold one resident's due routine pushes into one when their window has too few sends for them."""
    due = and_(_plannable(now), OutboxMessage.recipient == openid, OutboxMessage.next_attempt_at <= now)
    with transaction(run.factory) as session:
        # As staff digests: rows a rival dispatcher is claiming right now are left to it.
        query = select(OutboxMessage).where(due).order_by(OutboxMessage.id).with_for_update(skip_locked=True)
        rows = list(session.scalars(query))
        routine = [row for row in rows if row.kind not in NEVER_FOLDED]
        if not _fold_needed(rows, window_open(session, openid, now)):
            return 0  # each goes alone; or no send is left for them and the send path holds them
        updates = next((row for row in rows if row.kind == UPDATES_KIND), None)
        if updates is None:
            first = routine[0]
            updates = OutboxMessage(
                kind=UPDATES_KIND,
                recipient=openid,
                recipient_name=first.recipient_name,
                resident_id=first.resident_id,
                text="",
                next_attempt_at=now,
                created_at=now,
            )
            session.add(updates)
            session.flush()
        carried = fold_into(session, updates, routine)
        updates.text = updates_text(carried)
        tickets = {row.ticket_id for row in carried}
        updates.ticket_id = carried[-1].ticket_id if len(tickets) == 1 else None
        return len(routine)


def updates_text(rows: Sequence[OutboxMessage]) -> str:
    """One message that carries several: each one's text, numbered, the oldest first."""
    lines = [f"【工单消息】您有{len(rows)}条新消息:"]
    for number, row in enumerate(rows[:LISTED_AT_MOST], start=1):
        text = " ".join(row.text.split())
        lines.append(f"{number}. {text if len(text) <= ITEM_CHARS else text[: ITEM_CHARS - 1] + '…'}")
    if len(rows) > LISTED_AT_MOST:
        lines.append(f"另有{len(rows) - LISTED_AT_MOST}条未列出,回复“我的工单”查看工单进度。")
    return "\n".join(lines)
