"""The inbound spool: messages the database could not take, kept on local disk until it is back.

One append-only file per database under `[spool] dir`. Each record is one line, `<crc32> <json>\n`,
written and fsynced under a lock file before the webhook answers. A replay (one process at a time, under
a second lock file) stores the records in order through the normal path, where the inbox's unique key
drops any copy WeChat's retries already stored, then cuts what it finished off the front of the file.
A torn line (a crash mid-write) or one failing its checksum is skipped with a log line; a record the
database refuses while it is up goes to a `.rejected` file for a person to read. Neither blocks the rest.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from wechatpy import parse_message

from bot.freshness import NonceClaim
from bot.inbox import (
    TEMPLATE_FINISHED,
    Handler,
    InboundRecord,
    StorageUnavailable,
    receive,
    record_from_wechat,
)
from handlers.context import Incoming, Reply, TemplateReceipt
from handlers.emergency import advice_for
from handlers.events import MENU_SOS
from handlers.language.intents import IntentClassifier
from handlers.language.privacy import mask_openid
from handlers.texts import local_time
from handlers.tickets import queue_push
from storage.models import Resident, Ticket, Worker

log = logging.getLogger(__name__)

RECEIVED = "已收到您的消息,系统稍后处理。如遇紧急情况,请直接拨打110、120或119。"
EMERGENCY_NOTED = "您的求助已经记下,系统一恢复就通知网格员。"
# Events WeChat shows no reply to, or that need none.
SILENT_EVENTS = frozenset({"templatesendjobfinish", "unsubscribe", "view", "location"})
FORMAT_VERSION = 2


@dataclass(frozen=True)
class SpooledMessage:
    """One inbound message waiting in the spool, and when WeChat delivered it."""

    record: InboundRecord
    received_at: datetime
    # The nonce claim the database was away for: made at replay, and a reused nonce drops the message.
    nonce: NonceClaim | None = None


@dataclass
class ReplayResult:
    """What one replay did."""

    replayed: int = 0
    damaged: int = 0  # torn or corrupt lines, skipped
    rejected: int = 0  # refused by a database that is up: moved to the .rejected file
    waiting: int = 0  # left in the spool: the database is still away
    busy: bool = False  # another process is replaying

    def summary(self) -> str:
        """One line for the log."""
        return (
            f"{self.replayed} replayed, {self.damaged} damaged, {self.rejected} rejected, "
            f"{self.waiting} waiting"
        )


class Spool:
    """The spool file of one database, with its lock files, in one folder."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        stem = f"inbound-{database_key(database_url)}"
        self.path = directory / f"{stem}.spool"
        self.rejected_path = directory / f"{stem}.rejected"
        self._append_lock = directory / f"{stem}.lock"
        self._replay_lock = directory / f"{stem}.replay-lock"

    def check(self) -> None:
        """Create the folder (only GridDesk may read it) and prove it writable; OSError if not."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(self._append_lock):
            pass
        if not os.access(self.directory, os.W_OK):
            raise PermissionError(f"{self.directory} is not writable")

    def pending(self) -> bool:
        """Whether anything waits in the spool (a stat, cheap enough to ask often)."""
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def keep(self, message: SpooledMessage) -> None:
        """Append one message and fsync it; OSError if the disk will not take it."""
        line = encode(message)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with _locked(self._append_lock):
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # end a record torn by a crash, so this one stays whole
                _write_all(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            if size == 0:
                _fsync_directory(self.directory)  # the file's name must survive a crash too

    def replay(
        self, store: Callable[[SpooledMessage], None], database_up: Callable[[], bool]
    ) -> ReplayResult:
        """Store each spooled message in order; stop while the database is away. One process at a time."""
        result = ReplayResult()
        with _try_locked(self._replay_lock) as mine:
            if not mine:
                result.busy = True
                return result
            with _locked(self._append_lock):
                data = _read(self.path)
            done = self._replay_lines(data, store, database_up, result)
            self._cut(done)
        return result

    def _replay_lines(
        self,
        data: bytes,
        store: Callable[[SpooledMessage], None],
        database_up: Callable[[], bool],
        result: ReplayResult,
    ) -> int:
        """Replay the records in data; returns how many bytes of it are finished with."""
        done = 0
        for start, end, line in _lines(data):
            if not line.strip():
                done = end
                continue
            try:
                message = decode(line)
            except ValueError as exc:
                log.warning("spool %s: skipped a damaged record at byte %s (%s)", self.path.name, start, exc)
                result.damaged += 1
                done = end
                continue
            try:
                store(message)
            except StorageUnavailable:
                if not database_up():
                    result.waiting = sum(1 for _, _, rest in _lines(data[start:]) if rest.strip())
                    return done
                self._reject(line, message)
                result.rejected += 1
            else:
                result.replayed += 1
            done = end
        return done

    def _reject(self, line: bytes, message: SpooledMessage) -> None:
        """Set aside a record the database refuses while it is up, so it cannot hold up the rest."""
        log.error(
            "spool %s: the database refused a %s from %s; kept in %s for a person to look at",
            self.path.name,
            message.record.incoming.msg_type,
            mask_openid(message.record.incoming.openid),
            self.rejected_path.name,
        )
        fd = os.open(self.rejected_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            _write_all(fd, line if line.endswith(b"\n") else line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def _cut(self, done: int) -> None:
        """Drop the first `done` bytes; what was appended meanwhile stays (only a replay shrinks the file)."""
        if done == 0:
            return
        with _locked(self._append_lock):
            size = self.path.stat().st_size
            if done >= size:
                os.truncate(self.path, 0)
                return
            with self.path.open("rb") as source:
                source.seek(done)
                rest = source.read()
            temporary = self.path.with_suffix(".compacting")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _write_all(fd, rest)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
            _fsync_directory(self.directory)


def database_key(database_url: str) -> str:
    """A short name for a database (its URL without the password), so two databases never share a spool."""
    shown = make_url(database_url).render_as_string(hide_password=True)
    return hashlib.sha256(shown.encode()).hexdigest()[:12]


def encode(message: SpooledMessage) -> bytes:
    """One record as a line: a CRC-32 of the JSON, then the JSON (which escapes any line break)."""
    payload = json.dumps(
        {
            "v": FORMAT_VERSION,
            "received_at": message.received_at.isoformat(),
            "record": asdict(message.record),
            "nonce": asdict(message.nonce) if message.nonce else None,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode(line: bytes) -> SpooledMessage:
    """A record back from its line; ValueError if it is torn or corrupt."""
    if not line.endswith(b"\n"):
        raise ValueError("torn: no end of line")
    checksum, _, payload = line.rstrip(b"\n").partition(b" ")
    if len(checksum) != 8 or int(checksum, 16) != zlib.crc32(payload):
        raise ValueError("checksum mismatch")
    try:
        value = json.loads(payload)
        nonce = NonceClaim(**value["nonce"]) if value.get("nonce") else None
        received_at = datetime.fromisoformat(value["received_at"])
        return SpooledMessage(_record(value["v"], value["record"]), received_at, nonce)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"unreadable record: {type(exc).__name__}") from exc


def _record(version: int, fields: dict[str, Any]) -> InboundRecord:
    """The InboundRecord a line of this format version holds."""
    if version == 1:
        return _record_v1(**fields)
    if version != FORMAT_VERSION:
        raise ValueError(f"unknown format version {version}")
    incoming = dict(fields["incoming"])
    receipt = incoming.pop("receipt", None)
    incoming["receipt"] = TemplateReceipt(**receipt) if receipt else None
    return InboundRecord(fields["dedup_key"], fields["raw"], Incoming(**incoming))


def _record_v1(dedup_key: str, raw: str, content: str | None = None, **fields: Any) -> InboundRecord:
    """A version 1 record: its flat fields, and a template receipt's MsgID and Status (kept only in raw)."""
    receipt = _receipt_in(raw) if fields.get("event") == TEMPLATE_FINISHED else None
    return InboundRecord(dedup_key, raw, Incoming(**fields, text=content, receipt=receipt))


def _receipt_in(raw: str) -> TemplateReceipt | None:
    """A template receipt read from its XML as the webhook reads it now (the webhook parsed it before)."""
    try:
        return record_from_wechat(parse_message(raw), raw).incoming.receipt
    except (ExpatError, ValueError):
        return None


def offline_reply(record: InboundRecord, classifier: IntentClassifier, duty_phone: str) -> str | None:
    """The passive reply while the database is away: the emergency advice at once, or that it will wait."""
    incoming = record.incoming
    if incoming.msg_type == "event":
        event = (incoming.event or "").lower()
        if event == "click" and incoming.event_key == MENU_SOS:
            return _emergency_reply(None, duty_phone)
        return None if event in SILENT_EVENTS else RECEIVED
    if incoming.msg_type in ("text", "voice") and incoming.text:
        classification = classifier.classify(incoming.text)
        if classification.category == "emergency":
            return _emergency_reply(classification.kind, duty_phone)
    return RECEIVED


def _emergency_reply(kind: str | None, duty_phone: str) -> str:
    return "\n".join([advice_for(kind), EMERGENCY_NOTED, f"社区值班电话:{duty_phone}"])


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


def with_spool(
    process: Callable[[InboundRecord], str | None],
    spool: Spool,
    reply_offline: Callable[[InboundRecord], str | None],
    clock: Callable[[], datetime],
) -> Callable[[InboundRecord, NonceClaim | None], str | None]:
    """process, keeping the message in the spool and answering at once when the database is away."""

    def process_or_keep(record: InboundRecord, unsettled: NonceClaim | None = None) -> str | None:
        try:
            if unsettled is not None:
                # The nonce memory was away a moment ago: store nothing before its claim is made.
                raise StorageUnavailable("the nonce memory cannot be reached")
            return process(record)
        except StorageUnavailable:
            try:
                spool.keep(SpooledMessage(record, clock(), unsettled))
            except OSError as exc:
                log.error("spool %s: cannot keep a message either: %s", spool.path, exc)
                raise StorageUnavailable("neither the database nor the spool took the message") from exc
            incoming = record.incoming
            log.warning("kept a %s from %s in the spool", incoming.msg_type, mask_openid(incoming.openid))
            return reply_offline(record)

    return process_or_keep


def database_up(factory: sessionmaker[Session]) -> bool:
    """Whether the database answers at all."""
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False


class SpoolReplayer:
    """Replays the spool through the normal path: now, or in a web process's thread every few seconds."""

    def __init__(
        self,
        spool: Spool,
        factory: sessionmaker[Session],
        handle: Handler,
        clock: Callable[[], datetime],
        timezone: str,
        settle: Callable[[NonceClaim], bool],
    ) -> None:
        self.spool = spool
        self._factory, self._handle, self._clock, self._timezone = factory, handle, clock, timezone
        self._settle = settle
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def replay_now(self) -> ReplayResult:
        """Replay what waits in the spool, unless another process is at it."""
        return self.spool.replay(self._store, lambda: database_up(self._factory))

    def _store(self, message: SpooledMessage) -> None:
        if message.nonce is not None and not self._settle(message.nonce):
            # A captured query string replayed with another body while the database was away.
            log.warning(
                "spool %s: dropped a %s from %s: its nonce came with another message",
                self.spool.path.name,
                message.record.incoming.msg_type,
                mask_openid(message.record.incoming.openid),
            )
            return
        handle = replying_by_push(self._handle, self._clock, self._timezone, message.received_at)
        receive(self._factory, message.record, handle, message.received_at)

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


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on a lock file, between threads and processes of this host."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def _try_locked(path: Path) -> Iterator[bool]:
    """The lock if nobody holds it; False at once otherwise."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _lines(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """Each line of data with its start and end offsets; the last may lack its end of line (torn)."""
    start = 0
    while start < len(data):
        newline = data.find(b"\n", start)
        end = len(data) if newline < 0 else newline + 1
        yield start, end, data[start:end]
        start = end


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
