"""Recording each inbound message exactly once and answering WeChat's retries with the same reply."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, Select, Update, bindparam, insert, literal, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from bot.inbound_record import InboundRecord
from handlers.context import Incoming, Reply
from handlers.language.privacy import mask_openid
from handlers.tickets.core import community_desk
from storage.db import one_writer, transaction
from storage.models import InboundMessage
from storage.nonces import NonceClaim, NonceReused, claim_nonce
from storage.outbox import queue_push

log = logging.getLogger(__name__)

APOLOGY = (
    "抱歉,系统刚才出了点问题,但您的消息已经保存,工作人员会尽快处理。\n"
    "如有危险请立即拨打120(急救)、119(火警)或110(报警)。"
)


# Tries of one message when the database gives up on its transaction for reasons not its own.
ATTEMPTS = 3
RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure
# SQLite's primary result codes for a database that cannot be used right now, as opposed to SQLITE_ERROR
# (a missing table, bad SQL: a bug, which SQLite also reports as an OperationalError): BUSY, LOCKED,
# NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
SQLITE_AWAY_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})


class StorageUnavailable(RuntimeError):
    """The message could not be stored at all: the caller keeps it elsewhere (bot/spool.py) or refuses it."""

    def __init__(self, message: str, *, away: bool) -> None:
        super().__init__(message)
        self.away = away  # the database was unreachable, not refusing this message: try it again later


def _columns(record: InboundRecord, received_at: datetime) -> dict[str, Any]:
    """The message's inbound_messages row: its Incoming's fields that are columns, its text as content."""
    incoming, table = record.incoming, InboundMessage.__table__
    row = {f.name: getattr(incoming, f.name) for f in fields(incoming) if f.name in table.c}
    return {
        **row,
        "content": incoming.text,
        "dedup_key": record.dedup_key,
        "raw": record.raw,
        "received_at": received_at,
    }


Handler = Callable[[Session, Incoming], Reply]
# A message stored for the inbox workers: held by one of them, or waiting for one.
WAITING = ("queued", "working")


@dataclass(frozen=True)
class QuickReply:
    """The reply a message gets before it is handled, and whether it is an emergency."""

    text: str | None
    urgent: bool = False


@dataclass(frozen=True)
class Later:
    """How a message is left to the inbox workers: its quick reply, and whom to wake once it is stored."""

    reply: Callable[[InboundRecord], QuickReply]
    wake: Callable[[], None]


def receive(
    factory: sessionmaker[Session],
    record: InboundRecord,
    handle: Handler,
    now: datetime,
    later: Later | None = None,
    claim: NonceClaim | None = None,
) -> str | None:
    """Store and handle a message once; a retry gets the first reply. Returns the reply text.

    With `later`, a message whose sender still has one waiting for the inbox workers waits behind it
    (queued, answered at once), so one resident's messages are handled in the order they came. The
    nonce's `claim` is made in the same transaction (NonceReused when it came with another message).
    """
    incoming = record.incoming
    attempt = 1
    while True:
        try:
            return _store_and_handle(factory, record, handle, now, later, claim)
        except NonceReused:
            raise
        except Exception as exc:
            if attempt < ATTEMPTS and _sqlstate(exc) in RETRY_SQLSTATES:
                # The database undid the whole transaction, message row included: run it again.
                attempt += 1
                log.warning(
                    "retrying %s from %s (SQLSTATE %s)",
                    incoming.msg_type,
                    mask_openid(incoming.openid),
                    _sqlstate(exc),
                )
                continue
            if database_away(exc):
                # Not the handler's fault, and keeping it as failed would need the same database.
                log.warning(
                    "database unavailable for %s from %s: %s",
                    incoming.msg_type,
                    mask_openid(incoming.openid),
                    _reason(exc),
                )
                raise StorageUnavailable("the database is unavailable", away=True) from exc
            log.exception("handler failed for %s from %s", incoming.msg_type, mask_openid(incoming.openid))
            return _keep_failed(factory, record, now, claim)


def database_away(exc: Exception) -> bool:
    """Refused or lost connections, a locked or missing database, a pool with no connection to give."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    sqlite_code = getattr(exc.orig, "sqlite_errorcode", None)
    return sqlite_code is None or sqlite_code & 0xFF in SQLITE_AWAY_CODES


def _reason(exc: Exception) -> str:
    """The driver's first line (SQL parameters are hidden by the engine, so no resident's words)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    first_line = "".join(str(orig).strip().splitlines()[:1])
    return f"{type(orig).__name__}: {first_line}"


def _sqlstate(exc: Exception) -> str | None:
    """The database's error code, e.g. 40P01 when PostgreSQL picked this transaction to end a deadlock."""
    return getattr(exc.orig, "sqlstate", None) if isinstance(exc, DBAPIError) else None


def _store_and_handle(
    factory: sessionmaker[Session],
    record: InboundRecord,
    handle: Handler,
    now: datetime,
    later: Later | None,
    claim: NonceClaim | None,
) -> str | None:
    """One attempt in one transaction: claim the nonce and the MsgId, run the handler, store its reply."""
    with factory() as session, one_writer(session):
        session.begin()
        if claim is not None:
            claim_nonce(session, claim)
        try:
            message_id = session.connection().scalar(_claim(), _columns(record, now))
        except IntegrityError:
            session.rollback()
            return _earlier_reply(session, record.dedup_key)
        if later is not None and session.connection().scalar(
            _sender_waits(), {"openid": record.incoming.openid, "message_id": message_id}
        ):
            return _leave_queued(session, record, message_id, later)
        reply = handle(session, replace(record.incoming, message_id=message_id))
        session.flush()  # first whatever the handler changed, the message's own row included
        session.connection().execute(
            _answered(), {"message_id": message_id, "reply": reply.text, "ticket_id": reply.ticket_id}
        )
        session.commit()
        incoming = record.incoming
        log.info(
            "handled %s from %s ticket=%s", incoming.msg_type, mask_openid(incoming.openid), reply.ticket_id
        )
        return reply.text


# Every message passes these two statements: plain Core with bound parameters, built once, so they
# cost neither an ORM flush nor rebuilding the statement each time.
@cache
def _claim() -> Insert:
    """INSERT of a new message, returning its id; the unique dedup_key makes a retry fail here."""
    table = InboundMessage.__table__
    return insert(table).returning(table.c.id)


@cache
def _answered() -> Update:
    """UPDATE storing the reply given and the ticket the message belongs to."""
    table = InboundMessage.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("message_id"))
        .values(reply=bindparam("reply"), ticket_id=bindparam("ticket_id"))
    )


@cache
def _sender_waits() -> Select[Any]:
    """Whether the sender has another message waiting for the inbox workers (an index probe)."""
    table = InboundMessage.__table__
    return (
        select(literal(1))
        .where(
            table.c.status.in_(WAITING),
            table.c.openid == bindparam("openid"),
            table.c.id != bindparam("message_id"),
        )
        .limit(1)
    )


def _leave_queued(session: Session, record: InboundRecord, message_id: int, later: Later) -> str | None:
    """Mark the message just claimed as queued behind its sender's earlier one, and answer at once."""
    quick = later.reply(record)
    table = InboundMessage.__table__
    session.connection().execute(
        update(table)
        .where(table.c.id == message_id)
        .values(status="queued", reply=quick.text, urgent=quick.urgent)
    )
    session.commit()
    later.wake()
    incoming = record.incoming
    log.info("queued %s from %s behind an earlier one", incoming.msg_type, mask_openid(incoming.openid))
    return quick.text


def receive_later(
    factory: sessionmaker[Session],
    record: InboundRecord,
    now: datetime,
    later: Later,
    claim: NonceClaim | None = None,
) -> str | None:
    """Store a message for the inbox workers and return its quick reply; a retry gets the first reply."""
    incoming = record.incoming
    quick = later.reply(record)
    queued = {**_columns(record, now), "status": "queued", "reply": quick.text, "urgent": quick.urgent}
    try:
        with factory() as session, one_writer(session, short=True):
            session.begin()
            if claim is not None:
                claim_nonce(session, claim)
            try:
                session.connection().execute(_claim(), queued)
            except IntegrityError:
                session.rollback()
                return _earlier_reply(session, record.dedup_key)
            session.commit()
    except SQLAlchemyError as exc:
        # Away or not, the spool keeps it and replays it through the normal path.
        log.warning("could not queue a %s: %s", incoming.msg_type, _reason(exc))
        raise StorageUnavailable("the message could not be queued", away=database_away(exc)) from exc
    later.wake()
    log.info("queued %s from %s (backlog)", incoming.msg_type, mask_openid(incoming.openid))
    return quick.text


def _earlier_reply(session: Session, dedup_key: str) -> str | None:
    """The reply already given to the first copy of a retried message."""
    with session.begin():
        message = session.scalar(select(InboundMessage).where(InboundMessage.dedup_key == dedup_key))
        return message.reply if message else None


def _keep_failed(
    factory: sessionmaker[Session], record: InboundRecord, now: datetime, claim: NonceClaim | None
) -> str:
    """Even when handling fails the message is kept, and the duty desk is asked to look at it."""
    try:
        with transaction(factory) as session:
            if claim is not None:
                claim_nonce(session, claim)
            existing = session.scalar(
                select(InboundMessage).where(InboundMessage.dedup_key == record.dedup_key)
            )
            if existing is not None:
                return existing.reply or APOLOGY
            message = InboundMessage(**_columns(record, now), status="failed", reply=APOLOGY)
            session.add(message)
            session.flush()
            alert_duty_desk(session, message, now)
            return APOLOGY
    except SQLAlchemyError as exc:
        raise StorageUnavailable("could not store the inbound message", away=database_away(exc)) from exc


def alert_duty_desk(session: Session, message: InboundMessage, now: datetime) -> None:
    """Ask the community duty desk to look at a message GridDesk could not handle."""
    text = f"【需人工处理】居民消息 {message.id}({message.msg_type})未能自动处理,请在后台查看并联系居民。"
    for worker in community_desk(session):
        queue_push(session, now, worker=worker, kind="failed_message", text=text, message_id=message.id)
