"""Erasing personal data in place: the rows stay (reports, de-duplication, the audit trail), the words go.

Used by the retention sweep (handlers/jobs/retention.py) and by forgetting a resident (handlers/forget.py).
Every function works in the caller's transaction and with set-based UPDATEs, so a sweep over thousands of
rows is a few statements; media files are deleted after the caller commits (`delete_media_files`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.orm import Session

from storage.models import InboundMessage, OutboxMessage, Ticket, TicketEvent

log = logging.getLogger(__name__)

# A forgotten resident's openid becomes this prefix and a digest (handlers/people/forgetting/).
FORGOTTEN_PREFIX = "forgotten:"
# What an erased ticket says instead of the resident's words (consoles, Open311, the worker's 我的工单).
ERASED_TEXT = "(内容已删除)"
# Left in an erased push's recipient name when it was a resident or family member, not a worker.
ERASED_NAME = "居民"


def is_forgotten_openid(openid: str | None) -> bool:
    """True for the tombstone of a resident forgotten on request: nothing may be sent to it."""
    return bool(openid and openid.startswith(FORGOTTEN_PREFIX))


def erase_tickets(session: Session, ticket_ids: Sequence[int], now: datetime) -> int:
    """Blank the tickets' words, their trail's notes and pushes about them; keep what reports count."""
    if not ticket_ids:
        return 0
    tickets = (
        update(Ticket)
        .where(Ticket.id.in_(ticket_ids))
        # The version moves on, so a worker's console form opened before this cannot write the words back.
        .values(summary=ERASED_TEXT, erased_at=now, version=Ticket.version + 1)
        .execution_options(synchronize_session=False)
    )
    erased = session.execute(tickets).rowcount
    # Notes are free text (the resident's words, a worker's "已联系张阿姨"); kind, actor and time stay.
    session.execute(
        update(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.note.is_not(None))
        .values(note=None)
        .execution_options(synchronize_session=False)
    )
    erase_pushes(session, OutboxMessage.ticket_id.in_(ticket_ids))
    return erased


def erase_pushes(session: Session, which: ColumnElement[bool]) -> int:
    """Blank the text of pushes (names, phones, addresses, the resident's words); a worker's name stays."""
    # Names first: `which` may match on the text, which the second statement blanks.
    # Staff names are not the residents' data; residents' and family members' names are.
    names = (
        update(OutboxMessage)
        .where(which, OutboxMessage.worker_id.is_(None))
        .values(recipient_name=ERASED_NAME)
    )
    session.execute(names.execution_options(synchronize_session=False))
    texts = update(OutboxMessage).where(which).values(text=ERASED_TEXT, last_error=None)
    done = session.execute(texts.execution_options(synchronize_session=False)).rowcount
    return done


def erase_messages(session: Session, which: ColumnElement[bool], now: datetime) -> tuple[int, list[str]]:
    """Blank inbound messages' text, raw XML, location and reply; (how many, their saved media files).

    The row, its de-duplication key, type, time and ticket stay: a late retry is still recognised and
    the count of messages is still right. The media files are for `delete_media_files` after commit.
    """
    pending = and_(which, InboundMessage.erased_at.is_(None))
    media = list(
        session.scalars(
            select(InboundMessage.media_path).where(pending, InboundMessage.media_path.is_not(None))
        )
    )
    erased = session.execute(
        update(InboundMessage)
        .where(pending)
        .values(
            content=None,
            raw="",
            label=None,
            latitude=None,
            longitude=None,
            reply=None,
            # No media id: the download job must not fetch a photo it would have to erase again.
            media_id=None,
            media_path=None,
            erased_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return erased, [path for path in media if path]


def delete_media_files(paths: Iterable[str], media_dir: Path) -> int:
    """Delete saved photos and voice files, only inside media_dir; returns how many were there to delete."""
    root = media_dir.resolve()
    deleted = 0
    for name in paths:
        path = Path(name).resolve()
        if not path.is_relative_to(root):
            log.warning("not deleting a media file outside %s", root)
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("could not delete a media file under %s: %s", root, exc.strerror)
            continue
        deleted += 1
    return deleted
