"""Engine and session setup, and schema migrations run on start."""

from __future__ import annotations

import fcntl
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:  # the ORM loads when the first session factory is made: read-only listings skip it
    from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# PostgreSQL advisory lock held while a process migrates and seeds: any constant unique to GridDesk.
STARTUP_LOCK_KEY = 0x47524944  # "GRID"
# PostgreSQL advisory lock that makes the ping sweeps of several schedulers take turns.
PING_SWEEP_LOCK_KEY = 0x50494E47  # "PING"
WRITER_LOCK = "griddesk.writer_lock"
# An execution option: this connection only reads, so on SQLite it begins without the write lock.
READ_ONLY = "griddesk_read_only"
# Between two slices of a bulk job the write lock stays free as long as the slice held it, up to this
# long: a webhook writer of another process retries every 100 ms at most (SQLite's busy handler).
GIVE_WAY_MAX_SECONDS = 0.2
# A migration file's `revision = '0009'` and `down_revision = '0008'` lines (None for the first).
_REVISION = re.compile(r"""^revision(?:\s*:\s*str)?\s*=\s*['"]([^'"]+)['"]""", re.MULTILINE)
_DOWN_REVISION = re.compile(
    r"""^down_revision(?:\s*:[^=]+)?\s*=\s*(?:None|['"]([^'"]+)['"])\s*$""", re.MULTILINE
)
# The largest id a row can have: ids are PostgreSQL `integer` columns (SQLite's hold more, but no id
# ever gets there). A larger number names no row, and PostgreSQL would refuse even to compare it.
LARGEST_ID = 2**31 - 1


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite files get WAL, foreign keys, a busy timeout and immediate transactions."""
    parsed = make_url(url)
    # hide_parameters: error messages (and so the logs) never carry residents' words, names or phones.
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, hide_parameters=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, hide_parameters=True)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads and then writes fails at once when another writer got
    # in between; taking the write lock up front makes concurrent writers wait their turn instead.
    # A reader that never writes needs no lock at all (WAL readers neither wait nor hold anyone up).
    read_only = connection.get_execution_options().get(READ_ONLY)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit (and, on SQLite, share writer turns)."""
    from sqlalchemy.orm import sessionmaker

    info = {WRITER_LOCK: WriterTurns()} if engine.dialect.name == "sqlite" else {}
    return sessionmaker(engine, expire_on_commit=False, info=info)


class WriterTurns:
    """One writer at a time in this process; a short write (one row) goes before the long ones waiting.

    Under a burst the line is long transactions (a message handled whole); a message queued under
    overload is a short one (its nonce and its row), and what lets its sender be answered at once.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._held = False
        self._short_waiting = 0

    @contextmanager
    def turn(self, short: bool = False) -> Iterator[None]:
        """Hold the turn for the block, waiting for the writer before (and, if long, any short one)."""
        with self._changed:
            self._short_waiting += short
            try:
                while self._held or (not short and self._short_waiting):
                    self._changed.wait()
            finally:
                self._short_waiting -= short
            self._held = True
        try:
            yield
        finally:
            with self._changed:
                self._held = False
                self._changed.notify_all()


@contextmanager
def one_writer(session: Session, *, short: bool = False) -> Iterator[None]:
    """On SQLite, let this process's threads take turns at writing before they ask SQLite.

    SQLite lets one transaction write at a time, and a connection waiting for it sleeps in its busy
    handler, up to 100 ms a try, so a freed lock can sit idle while every waiter sleeps. Taking turns in
    the process hands it to the next waiting thread at once; only the other processes still wait in
    SQLite. `short` writes (a single insert) go first (WriterTurns).
    """
    turns = session.info.get(WRITER_LOCK)
    if turns is None:
        yield
        return
    with turns.turn(short):
        yield


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def snapshot(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads; on SQLite it neither takes nor waits for the write lock."""
    with factory() as session:
        session.connection(execution_options={READ_ONLY: True})
        try:
            yield session
        finally:
            session.rollback()


@contextmanager
def bulk_slice(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One slice of a bulk job in its own transaction, then, on SQLite, a pause for other writers.

    SQLite hands its write lock to nobody in particular: a job that commits and begins again at once
    keeps it while webhook writers sleep in their busy handlers. So the slice takes its turn among this
    process's writers (one_writer), and afterwards leaves the lock free as long as it held it (at most
    GIVE_WAY_MAX_SECONDS): a bulk job gets at most about half of the write lock's time.
    """
    with factory() as session:
        with one_writer(session):
            started = time.monotonic()
            with session.begin():
                yield session
            held = time.monotonic() - started
        if session.info.get(WRITER_LOCK) is not None:
            time.sleep(min(held, GIVE_WAY_MAX_SECONDS))


def take_turns(session: Session, key: int) -> None:
    """Until this transaction ends, others taking `key` wait (SQLite's writers take turns already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@contextmanager
def startup_lock(engine: Engine) -> Iterator[None]:
    """Serialise start-up work (migrations, demo seeding) when several processes start at once."""
    if engine.dialect.name == "sqlite":
        with _sqlite_startup_lock(engine.url.database):
            yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK_KEY})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK_KEY})


@contextmanager
def _sqlite_startup_lock(database: str | None) -> Iterator[None]:
    """A lock file beside the database: SQLite answers "database is locked" at once, not after its busy
    timeout, when connections race to switch a new file to WAL, so waiting on SQLite alone is not enough."""
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.startup-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> None:
    """Bring the database schema up to the newest migration; a restart usually finds it there already."""
    if is_current(engine):
        return
    # Imported here: Alembic is only needed at start-up, and the command-line tools start faster without it.
    from alembic import command
    from alembic.config import Config

    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration already: one small read, no Alembic.

    Loading Alembic and every migration script takes a good part of a second, and a restart must be
    back within WeChat's 15-second retry window. Anything unclear (no version table, several heads, a
    migration file not written as usual) answers False, and Alembic decides.
    """
    head = head_revision()
    return head is not None and current_revisions(engine) == [head]


def current_revisions(engine: Engine) -> list[str]:
    """The revisions the database says it is at: none when GridDesk never migrated it."""
    # Read-only: on SQLite a check of the schema must not wait behind a writer for the write lock.
    with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
        if not inspect(connection).has_table("alembic_version"):
            return []
        return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def head_revision() -> str | None:
    """The newest migration's revision, read from the files; None unless there is exactly one."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision[1])
        if down[1]:
            parents.add(down[1])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None
