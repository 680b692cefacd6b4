"""Inbox workers: finishing the messages the webhook queued under overload, and sending each sender's receipt.

Under overload the webhook stores a message as `queued` and answers at once (bot/inbox.py `receive_later`).
An inbox worker claims the next one (storage/inbox_queue.py: emergencies first, then in order of arrival,
one sender's messages one at a time, under a lease), runs the normal router on it in one transaction,
and queues the reply the router gave as a push to the sender (the receipt: its ticket number, who is
coming), which the outbox sends as a customer-service message inside WeChat's 48-hour window and as a
template message outside it.

A voice message that came without WeChat's transcript is queued the same way when a speech server is set
up (bot/speech/): the worker first gets its words (`listen`, outside any transaction: it takes seconds),
then routes them like a text, and keeps them as the message's content.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from xml.parsers.expat import ExpatError

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from wechatpy import parse_message

from bot.inbound_record import MalformedMessage, record_from_wechat
from bot.inbox import RETRY_SQLSTATES, Handler, alert_duty_desk, database_away
from bot.spool.replayer import replying_by_push
from config.settings import InboxSettings
from handlers.context import Incoming
from handlers.language.privacy import mask_openid
from storage.db import one_writer, transaction
from storage.inbox_queue import claim_next, start_handling
from storage.leases import process_holder
from storage.models import InboundMessage

log = logging.getLogger(__name__)

# The words said in a stored voice message (its id, media id and arrival), or None.
Listen = Callable[[int, str, datetime], str | None]

# Claims of one message after which it is given up to the duty desk: it ended its worker every time.
MAX_CLAIMS = 5


class InboxWorkers:
    """Threads that finish queued messages; `work_once` and `drain` do it in the caller's thread.

    `handle_as_of(received_at)` is the router's handler for a message as of when it arrived; `listen`
    transcribes voice messages that came without words (None: they open a call-back ticket).
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        handle_as_of: Callable[[datetime], Handler],
        clock: Callable[[], datetime],
        settings: InboxSettings,
        timezone: str,
        listen: Listen | None = None,
    ) -> None:
        self._factory, self._handle_as_of, self._clock = factory, handle_as_of, clock
        self._listen = listen
        self._settings, self._timezone = settings, timezone
        self.holder = process_holder()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def wake(self) -> None:
        """A message was queued: an idle worker of this process looks at once."""
        self._wake.set()

    def work_once(self) -> bool:
        """Claim the next queued message and finish it; False when nothing was claimable."""
        now = self._clock()
        until = now + timedelta(seconds=self._settings.lease_seconds)
        with self._factory() as session, one_writer(session), session.begin():
            message_id = claim_next(session, self.holder, now, until)
            if message_id is None:
                return False
            attempts = session.scalar(select(InboundMessage.attempts).where(InboundMessage.id == message_id))
        if attempts is not None and attempts > MAX_CLAIMS:
            self._give_up(message_id, f"claimed {attempts} times")
        else:
            self._finish(message_id, self._transcript(message_id))
        return True

    def drain(self) -> int:
        """Finish every claimable message, one after another; how many were taken."""
        taken = 0
        while self.work_once():
            taken += 1
        return taken

    def _transcript(self, message_id: int) -> str | None:
        """The words of a claimed voice message that came without them; None for anything else."""
        if self._listen is None:
            return None
        columns = select(
            InboundMessage.msg_type,
            InboundMessage.content,
            InboundMessage.media_id,
            InboundMessage.received_at,
        )
        with transaction(self._factory) as session:
            msg_type, content, media_id, received_at = session.execute(
                columns.where(InboundMessage.id == message_id)
            ).one()
        if msg_type != "voice" or content or not media_id:
            return None
        try:
            return self._listen(message_id, media_id, received_at)
        except Exception:
            # A bug here must not cost the message: it opens the call-back ticket voice always opened.
            log.exception("inbox worker could not transcribe voice message %s", message_id)
            return None

    def _finish(self, message_id: int, transcript: str | None = None) -> None:
        """Handle a claimed message as the webhook would have, its reply sent to the sender as a push.

        A voice message's `transcript` is routed as its text and kept as its content.
        """
        try:
            with self._factory() as session, one_writer(session):
                session.begin()
                if not start_handling(session, message_id, self.holder):
                    # The lease ran out and another worker took it over: it is theirs now.
                    session.rollback()
                    return
                stored = select(InboundMessage.raw, InboundMessage.received_at)
                raw, received_at = session.execute(stored.where(InboundMessage.id == message_id)).one()
                incoming = replace(_incoming(raw), message_id=message_id)
                if transcript:
                    incoming = replace(incoming, text=transcript)
                handle = replying_by_push(
                    self._handle_as_of(received_at), self._clock, self._timezone, received_at
                )
                reply = handle(session, incoming)
                session.flush()
                session.execute(
                    update(InboundMessage)
                    .where(InboundMessage.id == message_id)
                    .values(ticket_id=reply.ticket_id, **({"content": transcript} if transcript else {}))
                    .execution_options(synchronize_session=False)
                )
                session.commit()
            log.info("finished queued %s from %s", incoming.msg_type, mask_openid(incoming.openid))
        except Exception as exc:
            if isinstance(exc, SQLAlchemyError) and database_away(exc):
                # Not the message's fault: its lease runs out and a worker takes it again.
                log.warning("inbox worker: database unavailable for message %s", message_id)
                return
            if getattr(getattr(exc, "orig", None), "sqlstate", None) in RETRY_SQLSTATES:
                # PostgreSQL undid the whole transaction to end a deadlock: the message is taken again.
                log.warning("inbox worker: message %s to be handled again (deadlock)", message_id)
                self._hand_back(message_id)
                return
            log.exception("inbox worker failed on message %s", message_id)
            self._give_up(message_id, type(exc).__name__)

    def _hand_back(self, message_id: int) -> None:
        """Put a message this worker still holds back in the queue, claimable at once."""
        with transaction(self._factory) as session:
            session.execute(
                update(InboundMessage)
                .where(
                    InboundMessage.id == message_id,
                    InboundMessage.claimed_by == self.holder,
                    InboundMessage.status == "working",
                )
                .values(status="queued", lease_until=None)
                .execution_options(synchronize_session=False)
            )

    def _give_up(self, message_id: int, why: str) -> None:
        """Keep the message as failed and ask the duty desk to look at it, as the webhook does."""
        with transaction(self._factory) as session:
            message = session.get(InboundMessage, message_id)
            if message is None or message.claimed_by != self.holder or message.status != "working":
                return
            message.status, message.lease_until = "failed", None
            session.flush()
            alert_duty_desk(session, message, self._clock())
        log.warning("inbox worker gave message %s up to the duty desk: %s", message_id, why)

    def start(self) -> None:
        """Start the worker threads (daemons): each finishes what is queued, then waits for a wake-up."""
        for number in range(self._settings.workers):
            thread = threading.Thread(target=self._run, name=f"inbox-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Ask the threads to stop and wait for a message in hand to be finished."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.work_once():
                    pass
            except Exception:  # a bug or a lost database must not end the thread: try again later
                log.exception("inbox worker failed")
            self._wake.wait(self._settings.poll_seconds)


def _incoming(raw: str) -> Incoming:
    """The stored message read back from its XML exactly as the webhook read it."""
    try:
        return record_from_wechat(parse_message(raw), raw).incoming
    except (ExpatError, MalformedMessage, AttributeError, KeyError, TypeError) as exc:
        raise MalformedMessage("the stored message cannot be read again") from exc
