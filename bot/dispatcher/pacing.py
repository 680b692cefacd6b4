"""Staff pushes paced per member, and a burst folded into one digest push that lists its tickets.

WeCom drops pushes past 30 a minute or 1,000 an hour to one member while answering errcode 0, so a
burst (a power cut in one building: fifty tickets to one grid worker) would vanish unnoticed. Each push
to a staff member takes a slot of their budget first (storage/pacing.py, shared by every dispatcher);
with none left it waits, untried, until one frees. When more routine pushes wait for one member than
`digest_after`, they are folded: marked `folded` with `folded_into` naming one new `digest` row, which
goes out like any push. Emergencies are never folded, and routine pushes leave them a share of the budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from bot.dispatcher.claims import URGENT_KINDS, _Run
from bot.messenger import Push
from storage.db import transaction
from storage.models import OutboxMessage, Ticket
from storage.outbox import fold_into
from storage.pacing import Budget, take_send_slot

DIGEST_KIND = "digest"
# Pages that must reach the person on their own: never folded, and given the whole budget.
PRIORITY_KINDS = (*URGENT_KINDS, "escalation")
NEVER_FOLDED = (*PRIORITY_KINDS, DIGEST_KIND)
# Pushes that hand a ticket to the member: a digest counts them as new tickets of their grid.
NEW_TICKET_KINDS = frozenset({"new_ticket", "reassigned", "sent_back"})
# Ticket numbers one digest lists; beyond them it counts, and the console and 我的工单 show them all.
LISTED_AT_MOST = 30


def budget_for(run: _Run, kind: str) -> Budget:
    """The member's whole budget for emergencies and escalations; three quarters of it for routine ones."""
    minute, hour = run.settings.staff_per_minute, run.settings.staff_per_hour
    if kind in PRIORITY_KINDS:
        return Budget(minute, hour)
    return Budget(max(1, minute * 3 // 4), max(1, hour * 3 // 4))


def take_slot(run: _Run, push: Push) -> timedelta | None:
    """Count this push against its staff member's budget; None to send now, else how long to wait."""
    if not run.paced or push.worker_id is None:
        return None
    return take_send_slot(run.factory, push.worker_id, run.lease_clock(), budget_for(run, push.kind))


def _foldable(now: datetime) -> ColumnElement[bool]:
    """Routine staff pushes still waiting, held by no dispatcher (due now or waiting for a slot)."""
    return and_(
        OutboxMessage.status == "pending",
        OutboxMessage.worker_id.is_not(None),
        OutboxMessage.kind.not_in(NEVER_FOLDED),
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )


def fold_bursts(run: _Run) -> int:
    """Fold what waits for each staff member in a burst into their digest; returns the rows folded.

    A burst: more than `digest_after` routine pushes waiting, or any while a digest still waits unsent
    (it takes them in, so one burst is one push however long it lasts).
    """
    if not run.paced:
        return 0
    now = run.lease_clock()
    crowded = (
        select(OutboxMessage.worker_id)
        .where(_foldable(now))
        .group_by(OutboxMessage.worker_id)
        .having(func.count() > run.settings.digest_after)
    )
    digesting = select(OutboxMessage.worker_id).where(_waiting_digest(now))
    with transaction(run.factory) as session:
        worker_ids = {worker_id for worker_id in session.scalars(crowded.union(digesting)) if worker_id}
    return sum(_fold(run, worker_id, now) for worker_id in sorted(worker_ids))


def _waiting_digest(now: datetime) -> ColumnElement[bool]:
    """A digest not yet sent and held by no dispatcher: what it lists can still grow."""
    return and_(
        OutboxMessage.kind == DIGEST_KIND,
        OutboxMessage.status == "pending",
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )


def _fold(run: _Run, worker_id: int, now: datetime) -> int:
    """Fold a member's waiting pushes into their waiting digest, or a new one, in one transaction."""
    # On PostgreSQL, rows a rival dispatcher is claiming right now are skipped rather than waited for
    # (they are about to be sent; waiting could deadlock with its claim); SQLite has one writer anyway.
    waiting = (
        select(OutboxMessage)
        .where(_foldable(now), OutboxMessage.worker_id == worker_id)
        .order_by(OutboxMessage.id)
        .with_for_update(skip_locked=True)
    )
    open_digest = (
        select(OutboxMessage)
        .where(_waiting_digest(now), OutboxMessage.worker_id == worker_id)
        .order_by(OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    with transaction(run.factory) as session:
        rows = list(session.scalars(waiting))
        digest = session.scalars(open_digest).first()
        if not rows or (digest is None and len(rows) <= run.settings.digest_after):
            return 0
        if digest is None:
            digest = OutboxMessage(
                kind=DIGEST_KIND,
                recipient=rows[-1].recipient,
                recipient_name=rows[-1].recipient_name,
                worker_id=worker_id,
                text="",
                next_attempt_at=now,
                created_at=now,
            )
            session.add(digest)
            session.flush()
        digest.text = digest_text(session, fold_into(session, digest, rows))
        return len(rows)


def digest_text(session: Session, rows: Sequence[OutboxMessage], listed_at_most: int = LISTED_AT_MOST) -> str:
    """What the member reads: how many, the new tickets by grid, other ticket news, and where the rest is."""
    ids = {row.ticket_id for row in rows if row.ticket_id is not None}
    query = select(Ticket).where(Ticket.id.in_(ids)).options(selectinload(Ticket.grid))
    tickets = {ticket.id: ticket for ticket in session.scalars(query)}
    new: dict[str, list[int]] = {}
    news: list[int] = []
    for row in rows:
        ticket = tickets.get(row.ticket_id) if row.ticket_id is not None else None
        if ticket is None:
            continue
        if row.kind in NEW_TICKET_KINDS:
            grid = ticket.grid.name if ticket.grid is not None else "未分网格"
            _add_once(new.setdefault(grid, []), ticket.id)
        else:
            _add_once(news, ticket.id)
    listing = _Listing(listed_at_most)
    lines = [f"【工单汇总】{len(rows)}条新消息"]
    lines += [f"{grid}新增{len(numbers)}张工单{listing.take(numbers)}" for grid, numbers in new.items()]
    if news:
        lines.append(f"{len(news)}张工单有新进展{listing.take(news)}")
    notices = sum(1 for row in rows if row.ticket_id is None or row.ticket_id not in tickets)
    if notices:
        lines.append(f"其他通知{notices}条")
    if listing.left_out:
        lines.append(f"另有{listing.left_out}张工单未列出")
    lines.append("回复“我的工单”或打开工作台查看。")
    return "\n".join(lines)


def _add_once(numbers: list[int], number: int) -> None:
    if number not in numbers:
        numbers.append(number)


class _Listing:
    """Ticket numbers written out up to a limit across a digest's lines; the rest counted."""

    def __init__(self, limit: int) -> None:
        self.room, self.left_out = limit, 0

    def take(self, numbers: list[int]) -> str:
        """':#1 #2 …' for as many as there is room for; nothing when there is none left."""
        shown, self.room = numbers[: self.room], max(0, self.room - len(numbers))
        self.left_out += len(numbers) - len(shown)
        if not shown:
            return ""
        return ":" + " ".join(f"#{number}" for number in shown) + (" …" if len(shown) < len(numbers) else "")
