"""Shared fixtures: settings on a fresh test database, the demo community, the app and a fake WeChat.

Tests run on a temporary SQLite file each. With GRIDDESK_TEST_DATABASE_URL set to a PostgreSQL URL
(e.g. postgresql+psycopg://griddesk:griddesk@127.0.0.1/griddesk, a role allowed to CREATEDB), each of
those files stands for a fresh, empty database created on that server instead, dropped after the test.

The `factory` fixture's database is migrated and given the demo community once a session (a template),
then copied for each test: migrating takes most of a second, a copy a fraction of it.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool
from werkzeug.routing import Rule

from bot.bootstrap import Runtime, bootstrap
from bot.console import accounts
from config.settings import Settings, load_settings
from handlers.domain_settings import DomainSettings
from handlers.language.intents import IntentClassifier, classifier_for
from storage.db import make_engine, make_session_factory, transaction, upgrade
from storage.demo import load_community
from storage.models import OutboxMessage, Ticket
from tests.support import FakeClock, WeChatServer

# A valid 43-character EncodingAESKey, for safe-mode tests only.
TEST_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEST_APPID = "wx0123456789abcdef"


# The server and maintenance database the tests create their databases on; unset: SQLite files.
TEST_DATABASE_URL = os.environ.get("GRIDDESK_TEST_DATABASE_URL") or None
ON_POSTGRESQL = TEST_DATABASE_URL is not None
# Test database by the SQLite file it stands for, so every fixture naming one file meets one database.
_databases: dict[Path, str] = {}
_admin: list[Engine] = []
_serial = itertools.count(1)
# PostgreSQL template databases of this session (see DemoTemplates), dropped at its end.
_templates: list[str] = []
# The template a test database is to be created from, by file (see _demo_from_the_start), and the
# test databases created as copies, with the template of each.
_born_from: dict[Path, str] = {}
_copies: dict[str, str] = {}


def database_url(path: Path) -> str:
    """The test database for the SQLite file `path`: that file, or a fresh PostgreSQL database for it."""
    if TEST_DATABASE_URL is None:
        return f"sqlite:///{path}"
    name = _databases.get(path)
    if name is None:
        # Never reused: dicts shrink as tests drop theirs, and a killed run may leave databases behind.
        name = f"griddesk_test_{os.getpid()}_{next(_serial)}_{uuid.uuid4().hex[:6]}"
        template = _born_from.pop(path, None)
        _create(name, template)
        _databases[path] = name
        if template:
            _copies[name] = template
    return make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)


def command_env(path: Path | None = None, **env: str) -> dict[str, str]:
    """Environment for a `run.py` subprocess: this one without GRIDDESK_*, on the test database `path`.

    A server started with it writes its address file beside that database, not in the project's var/.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRIDDESK_")}
    database = (
        {
            "GRIDDESK_DATABASE_URL": database_url(path),
            "GRIDDESK_SERVER_ADDRESS_FILE": str(path.with_name(f"{path.stem}-server.json")),
        }
        if path is not None
        else {}
    )
    return clean | database | env


def _admin_engine() -> Engine:
    if not _admin:
        assert TEST_DATABASE_URL is not None
        _admin.append(create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool))
    return _admin[0]


def _create(name: str, template: str | None = None) -> None:
    """Create the PostgreSQL database `name`: empty, or a copy of `template`."""
    copy = f' TEMPLATE "{template}"' if template else ""
    with _admin_engine().connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')


def _drop(name: str) -> None:
    """Drop a test database; a moment's wait and a retry when a server process is still attached."""
    for attempt in range(5):
        try:
            with _admin_engine().connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except DBAPIError:
            # FORCE cannot end a backend of another role (autovacuum, say); it goes away on its own.
            time.sleep(0.2 * (attempt + 1))
    # Left for the throwaway cluster: names are never reused, so a leftover harms no later test.


@pytest.fixture(autouse=True)
def _fresh_databases(request: pytest.FixtureRequest) -> Iterator[None]:
    """On PostgreSQL, drop the databases a test made for files in its tmp_path (others at the end)."""
    before = set(_databases)
    yield
    tmp_path = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    for path in set(_databases) - before:
        if tmp_path is not None and path.is_relative_to(tmp_path):
            _drop(_databases.pop(path))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the PostgreSQL databases still left (module-scoped servers, templates), then the admin engine."""
    for name in [*_databases.values(), *_templates]:
        _drop(name)
    _databases.clear()
    _templates.clear()
    for engine in _admin:
        engine.dispose()


# The terminal summary's sections (figures tests measure), in the order they print. A test's lines travel in
# its report, so they print also when pytest-xdist ran the test in a worker process.
SUMMARY_SECTIONS = ("figures", "delivery figures")
_SUMMARY_PREFIX = "summary: "
_summary: dict[str, list[str]] = {}


def add_to_summary(request: pytest.FixtureRequest, section: str, lines: list[str]) -> None:
    """Print `lines` under `section` (one of SUMMARY_SECTIONS) at the end of the run, even when it passes."""
    request.node.user_properties.extend((_SUMMARY_PREFIX + section, line) for line in lines)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect summary lines from a finished test's report (in the main process, from any worker)."""
    if report.when == "teardown":
        for name, value in report.user_properties:
            if isinstance(name, str) and name.startswith(_SUMMARY_PREFIX):
                _summary.setdefault(name.removeprefix(_SUMMARY_PREFIX), []).append(str(value))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the summary lines tests added, section by section."""
    for section in SUMMARY_SECTIONS:
        if _summary.get(section):
            terminalreporter.write_sep("-", section)
            for line in _summary[section]:
                terminalreporter.write_line(line)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for `-n auto` (pyproject.toml's default): one a core for the whole suite, none for named paths.

    Named files or folders are someone's quick check while changing code: worker processes, each importing
    everything (about 3 s), cost more than they save there (tests/unit: 11 s alone, 24 s on two workers
    under load). `-n 2` splits such a run anyway; PYTEST_XDIST_AUTO_NUM_WORKERS overrides this.
    """
    wanted = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "").strip()
    if wanted.isdigit():
        return int(wanted)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    whole_suite = config.args_source is pytest.Config.ArgsSource.TESTPATHS
    return cores if whole_suite and cores > 1 else 0


# Console passwords in tests: the same scrypt at a 32nd of production's work factor (about 4 ms a hash
# instead of 0.1 s; hashing was 40% of the console tests' CPU). Production's stays in
# bot/console/accounts.py and is pinned by test_console_accounts.py's production-hashing test.
TEST_PASSWORD_METHOD = "scrypt:1024:8:1"
PRODUCTION_PASSWORD_METHOD = accounts.PASSWORD_METHOD


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Hash console passwords at TEST_PASSWORD_METHOD for the whole session (see above)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accounts, "PASSWORD_METHOD", TEST_PASSWORD_METHOD)
        yield


class _CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates kept in memory for the session: every test's Flask app (about one a
    test) otherwise parses and compiles the console's templates anew, a tenth of the console tests' CPU.
    A template whose source changed is compiled again (Jinja checks the bucket's checksum)."""

    def __init__(self) -> None:
        self.code: dict[str, tuple[str, object]] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        """Give the bucket the code compiled earlier from the same source, if any."""
        checksum, code = self.code.get(bucket.key, ("", None))
        if code is not None and checksum == bucket.checksum:
            bucket.code = code  # type: ignore[assignment]  # a code object, immutable, safe to share

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep a freshly compiled template's code."""
        self.code[bucket.key] = (bucket.checksum, bucket.code)


@pytest.fixture(autouse=True, scope="session")
def _templates_compiled_once() -> Iterator[None]:
    """Every Flask app of the session shares one cache of compiled templates (see _CompiledTemplates)."""
    with pytest.MonkeyPatch.context() as patch:
        options = {**Flask.jinja_options, "bytecode_cache": _CompiledTemplates()}
        patch.setattr(Flask, "jinja_options", options)
        yield


@pytest.fixture(autouse=True, scope="session")
def _url_builders_compiled_once() -> Iterator[None]:
    """Every Flask app of the session shares Werkzeug's compiled URL builders.

    Binding a rule to an app's URL map generates and compiles two small functions that build its URLs:
    two thirds of `create_app`'s time (about 10 ms of an app), and the tests build an app a test. The
    functions depend only on the rule's parsed parts (its converters are looked up on the rule at call
    time), so a rule with the same text and parts gets the ones compiled first. Rules with defaults are
    compiled as usual. Skipped if Werkzeug's internals change.
    """
    compile_builder = getattr(Rule, "_compile_builder", None)
    if compile_builder is None:
        yield
        return
    compiled: dict[tuple[object, ...], object] = {}

    def shared(rule: Rule, append_unknown: bool = True) -> object:
        if rule.defaults:
            return compile_builder(rule, append_unknown)
        key = (rule.rule, tuple(rule._trace), append_unknown)
        if key not in compiled:
            compiled[key] = compile_builder(rule, append_unknown)
        return compiled[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Rule, "_compile_builder", shared)
        yield


def make_settings(tmp_path: Path, **env: str) -> Settings:
    """Settings on a fresh test database, ignoring the developer's own environment."""
    environ = {"GRIDDESK_DATABASE_URL": database_url(tmp_path / "griddesk.db")} | env
    return load_settings(environ=environ)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Sandbox settings on a temporary database file."""
    return make_settings(tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves by hand."""
    return FakeClock()


@pytest.fixture(scope="session")
def classifier() -> IntentClassifier:
    """The rules shipped in config/intents.toml."""
    return classifier_for(load_settings(environ={}))


def _migrate_with_demo(engine: Engine, demo_path: Path, now: datetime) -> sessionmaker[Session]:
    """Migrate the database of `engine` and load the community of `demo_path` registered at `now`."""
    upgrade(engine)
    session_factory = make_session_factory(engine)
    with transaction(session_factory) as session:
        load_community(session, demo_path, now)
    return session_factory


@dataclass
class DemoTemplates:
    """The default demo community migrated and loaded once a session per clock start, copied per test."""

    folder: Path
    demo_path: Path
    built: dict[datetime, str] = field(default_factory=dict)

    def demo_database(self, engine: Engine, settings: Settings, now: datetime) -> sessionmaker[Session]:
        """Sessions on the test database of `settings` (`engine`, unused yet) with the demo at `now`."""
        if self.copy_into(settings, now):
            return make_session_factory(engine)
        return _migrate_with_demo(engine, settings.demo_path, now)

    def copy_into(self, settings: Settings, now: datetime) -> bool:
        """Make the fresh test database of `settings` the demo at `now`; False: migrate it yourself."""
        wanted = settings.demo_path == self.demo_path  # not for a test's own community
        url = make_url(settings.database_url)
        if url.get_backend_name() == "sqlite":
            return wanted and self._copy_file(Path(url.database or ""), now)
        name = url.database
        if name not in _databases.values():
            return False  # not a database the tests made
        template = self.template_for(now) if wanted else None
        if name in _copies:
            if _copies[name] == template:
                return True  # created as the copy already (_demo_from_the_start)
            _recreate(name, None)  # a copy of something else: start from empty
            del _copies[name]
            return False
        if template is None or not _is_empty(settings.database_url):
            return False  # something wrote to it first
        _recreate(name, template)
        _copies[name] = template
        return True

    def _copy_file(self, target: Path, now: datetime) -> bool:
        """Copy the SQLite template onto `target`, which must not exist yet."""
        if not target.name or target.exists():
            return False
        template = self.template_for(now)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)
        for suffix in ("-wal", "-shm"):  # none after a clean close, which checkpoints; copied if there
            if Path(template + suffix).exists():
                shutil.copyfile(template + suffix, f"{target}{suffix}")
        return True

    def template_for(self, now: datetime) -> str:
        """The template for `now` (a SQLite file or a PostgreSQL database name), built on first use."""
        if now not in self.built:
            self.built[now] = self._build(now)
        return self.built[now]

    def _build(self, now: datetime) -> str:
        """Migrate a new template and load the demo into it; no connection stays open to it."""
        serial = next(_serial)  # a build that failed half-way leaves its name behind
        if TEST_DATABASE_URL is None:
            name = str(self.folder / f"demo-{serial}.db")
            url = f"sqlite:///{name}"
        else:
            name = f"griddesk_template_{os.getpid()}_{serial}"
            _templates.append(name)
            _create(name)
            url = make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        try:
            _migrate_with_demo(engine, self.demo_path, now)
        finally:  # PostgreSQL copies a template only while nobody is connected to it
            engine.dispose()
        return name


def _recreate(name: str, template: str | None) -> None:
    """Drop the PostgreSQL test database `name` and create it again, as a copy of `template` if given."""
    with _admin_engine().connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{name}"')
    _create(name, template)


def _is_empty(url: str) -> bool:
    """Whether the PostgreSQL database at `url` has no tables yet."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return not connection.exec_driver_sql(
                "SELECT EXISTS (SELECT FROM pg_tables WHERE schemaname = 'public')"
            ).scalar()
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def demo_templates(tmp_path_factory: pytest.TempPathFactory) -> DemoTemplates:
    """Migrated demo databases for this session, each built the first time a test needs it."""
    return DemoTemplates(tmp_path_factory.mktemp("templates"), load_settings(environ={}).demo_path)


@pytest.fixture(autouse=True)
def _demo_from_the_start(request: pytest.FixtureRequest) -> Iterator[None]:
    """On PostgreSQL, create the database of a test with `factory` as the demo's copy right away.

    Else `settings` creates it empty and the factory drops it for the copy: a third more set-up time.
    The factory still checks the copy suits the test (its demo file and clock) and starts over if not.
    """
    if not ON_POSTGRESQL or "factory" not in request.fixturenames:
        yield
        return
    templates: DemoTemplates = request.getfixturevalue("demo_templates")
    path = request.getfixturevalue("tmp_path") / "griddesk.db"
    _born_from[path] = templates.template_for(request.getfixturevalue("clock")())
    yield
    _born_from.pop(path, None)


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock, classifier: IntentClassifier) -> Iterator[Runtime]:
    """GridDesk wired as in production (bot/bootstrap.py), on the test's settings, clock and rules."""
    runtime = bootstrap(settings, clock=clock, classifier=classifier)
    try:  # disposed even when a migration fails: an open psycopg connection left to the GC warns
        yield runtime
    finally:
        runtime.close()


@pytest.fixture
def domain(runtime: Runtime) -> DomainSettings:
    """What handlers and sweeps read of the test's settings, as the runtime makes it."""
    return runtime.domain


@pytest.fixture
def factory(
    runtime: Runtime, settings: Settings, clock: FakeClock, demo_templates: DemoTemplates
) -> sessionmaker[Session]:
    """A migrated database with the demo community loaded (a copy of the template when it can be)."""
    demo_templates.demo_database(runtime.engine, settings, clock())
    return runtime.factory


@pytest.fixture
def app(runtime: Runtime, factory: sessionmaker[Session]) -> Flask:
    """The real Flask app on the temporary database (`factory` first: the demo community is loaded)."""
    return runtime.app


@pytest.fixture
def wechat(app: Flask, settings: Settings, clock: FakeClock) -> WeChatServer:
    """Plays WeChat's servers against the app, in plaintext mode."""
    return WeChatServer(app.test_client(), settings.wechat, clock)


def tickets(factory: sessionmaker[Session]) -> list[Ticket]:
    """All tickets, oldest first, with what tests look at loaded."""
    with transaction(factory) as session:
        found = list(session.scalars(select(Ticket).order_by(Ticket.id)))
        for ticket in found:
            _ = ticket.assignee, ticket.resident, ticket.events, ticket.grid
        return found


def pushes(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    """All outbox rows, oldest first."""
    with transaction(factory) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
