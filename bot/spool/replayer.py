"""Replaying the spool once the database is back: the normal path, its reply sent to the sender as a push.

A voice message that came without words while a speech server is set up goes where the webhook would
have sent it: queued for the inbox workers, who transcribe it and route the words (emergencies first).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.inbox import Handler, Later, receive, receive_later
from bot.speech.listening import needs_listening
from bot.spool.file import ReplayResult, Spool
from bot.spool.records import SpooledMessage
from handlers.context import Incoming, Reply
from handlers.language.privacy import mask_openid
from handlers.texts import local_time
from storage.models import Resident, Ticket, Worker
from storage.nonces import NonceReused
from storage.outbox import queue_push

log = logging.getLogger(__name__)


class SpoolReplayer:
    """Replays the spool through the normal path: now, or in a web process's thread every few seconds."""

    def __init__(
        self,
        spool: Spool,
        factory: sessionmaker[Session],
        handle: Handler,
        clock: Callable[[], datetime],
        timezone: str,
        *,
        later: Later | None = None,
        listening: Later | None = None,
    ) -> None:
        """`listening`: how a voice message without words is left to the inbox workers (None: no speech
        server); `later`: how a message waits behind its sender's one they still hold, as on the webhook."""
        self.spool = spool
        self._factory, self._handle, self._clock, self._timezone = factory, handle, clock, timezone
        self._later, self._listening = later, listening
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def replay_now(self) -> ReplayResult:
        """Replay what waits in the spool, unless another process is at it."""
        return self.spool.replay(self._store, lambda: database_up(self._factory))

    def _store(self, message: SpooledMessage) -> None:
        record, at, claim = message.record, message.received_at, message.nonce
        handle = replying_by_push(self._handle, self._clock, self._timezone, at)
        try:
            if self._listening is not None and needs_listening(record.incoming):
                # Its words take the speech server seconds: the workers get them, and push the reply.
                receive_later(self._factory, record, at, self._listening, claim)
            else:
                receive(self._factory, record, handle, at, self._later, claim)
        except NonceReused:
            # A captured query string replayed with another body while the database was away.
            log.warning(
                "spool %s: dropped a %s from %s: its nonce came with another message",
                self.spool.path.name,
                message.record.incoming.msg_type,
                mask_openid(message.record.incoming.openid),
            )

    def start(self, interval_seconds: float) -> None:
        """Replay in a daemon thread: at once, then every interval_seconds."""
        self._thread = threading.Thread(
            target=self._run, args=(interval_seconds,), name="spool-replay", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for a replay in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self, interval_seconds: float) -> None:
        while True:
            if self.spool.pending():
                self._replay_logged()
            if self._stop.wait(interval_seconds):
                return

    def _replay_logged(self) -> None:
        try:
            result = self.replay_now()
        except Exception:  # a bug must not end the thread: the spool is tried again next time
            log.exception("spool replay failed")
            return
        if result.waiting:
            log.info("spool: the database is still away; %s", result.summary())
        elif not result.busy:
            log.warning("spool replayed: %s", result.summary())


def database_up(factory: sessionmaker[Session]) -> bool:
    """Whether the database answers at all."""
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


def replying_by_push(
    handle: Handler, clock: Callable[[], datetime], timezone: str, received_at: datetime
) -> Handler:
    """The handler for a replayed message: the sender already had a passive reply, so the reply the
    normal path gives (a ticket number, who is coming) goes to them as a push, in the same transaction."""

    def handle_and_push(session: Session, incoming: Incoming) -> Reply:
        reply = handle(session, incoming)
        if reply.text:
            text = f"您{local_time(received_at, timezone)}发来的消息已处理:\n{reply.text}"
            _push_to_sender(session, clock(), incoming, text, reply.ticket_id)
        return reply

    return handle_and_push


def _push_to_sender(
    session: Session, now: datetime, incoming: Incoming, text: str, ticket_id: int | None
) -> None:
    """Queue the reply to whoever sent the message: a worker, or a resident (the router met them already)."""
    worker = session.scalar(select(Worker).where(Worker.openid == incoming.openid))
    resident = None
    if worker is None:
        resident = session.scalar(select(Resident).where(Resident.openid == incoming.openid))
    if worker is None and resident is None:
        log.warning("replayed message %s: nobody to send its reply to", incoming.message_id)
        return
    ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
    queue_push(
        session,
        now,
        kind="reply",
        text=text,
        worker=worker,
        resident=resident,
        ticket=ticket,
        message_id=incoming.message_id,
    )
