"""Who a push goes to right now: the recipient's current openid, WeCom id and 48-hour window."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.console.links import render_links
from bot.messenger import Push
from storage.models import InboundMessage, OutboxMessage, Resident, Worker

# What opens WeChat's 48-hour customer-service window besides a message: following, scanning a QR
# code, and the menu buttons that push an event (wechatpy lower-cases event names).
WINDOW_EVENTS = ("subscribe", "subscribe_scan", "scan", "click", "scancode_push", "scancode_waitmsg")


class _Contact(NamedTuple):
    """How to reach a row's recipient right now."""

    openid: str | None
    wecom_userid: str | None = None
    subscribed: bool = True
    wrote_at: datetime | None = None


def pushes_for(session: Session, rows: Sequence[OutboxMessage], now: datetime) -> list[Push]:
    """The pushes for rows, with each recipient's current openid, WeCom id and customer-service window.

    Console sign-in links are minted here, as the row is claimed for sending (never stored in the text).
    """
    worker_ids = {row.worker_id for row in rows if row.worker_id is not None}
    resident_ids = {row.resident_id for row in rows if row.resident_id is not None}
    workers = {w.id: w for w in session.scalars(select(Worker).where(Worker.id.in_(worker_ids)))}
    residents = {r.id: r for r in session.scalars(select(Resident).where(Resident.id.in_(resident_ids)))}
    contacts = [_contact(row, workers, residents) for row in rows]
    wrote = last_interactions(session, {c.openid for c in contacts if c.openid})
    return [
        Push(
            outbox_id=row.id,
            kind=row.kind,
            recipient=row.recipient,
            recipient_name=row.recipient_name,
            text=render_links(session, row.text, row.worker_id, now),
            ticket_id=row.ticket_id,
            worker_id=row.worker_id,
            resident_id=row.resident_id,
            openid=contact.openid,
            wecom_userid=contact.wecom_userid,
            last_interaction_at=max(
                (t for t in (contact.wrote_at, wrote.get(contact.openid or "")) if t), default=None
            ),
            subscribed=contact.subscribed,
            channel=row.channel,
        )
        for row, contact in zip(rows, contacts, strict=True)
    ]


def _contact(row: OutboxMessage, workers: dict[int, Worker], residents: dict[int, Resident]) -> _Contact:
    """The worker's or resident's current address (a rebound openid wins over the one queued)."""
    if row.worker_id is not None:
        worker = workers[row.worker_id]
        return _Contact(worker.openid, worker.wecom_userid)
    if row.resident_id is not None:
        resident = residents[row.resident_id]
        return _Contact(resident.openid, None, resident.subscribed, resident.last_message_at)
    return _Contact(None if row.recipient.startswith("worker:") else row.recipient)


def last_interactions(session: Session, openids: Iterable[str]) -> dict[str, datetime]:
    """When each WeChat user last wrote, followed, scanned or tapped a menu: their window's start."""
    query = (
        select(InboundMessage.openid, func.max(InboundMessage.received_at))
        .where(
            InboundMessage.openid.in_(set(openids)),
            or_(InboundMessage.event.is_(None), InboundMessage.event.in_(WINDOW_EVENTS)),
        )
        .group_by(InboundMessage.openid)
    )
    return {openid: at for openid, at in session.execute(query) if at is not None}
