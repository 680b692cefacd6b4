"""The spool file of one database: appending under a lock, replaying in order, cutting what is done."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.inbox import StorageUnavailable
from bot.spool.records import SpooledMessage, decode, encode
from handlers.language.privacy import mask_openid

log = logging.getLogger(__name__)


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
            except StorageUnavailable as exc:
                # An outage that is ending flaps: a lost connection is never this message's fault.
                if exc.away or not database_up():
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
