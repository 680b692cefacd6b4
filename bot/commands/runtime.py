"""What the commands share: the database runtime, the schema check of read commands, and `migrate`."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

from config.settings import PROJECT_ROOT, Settings
from storage.db import (
    current_revisions,
    head_revision,
    make_engine,
    make_session_factory,
    startup_lock,
    transaction,
    upgrade,
)

log = logging.getLogger("griddesk")


class SchemaBehind(Exception):
    """A read command found the database not at this code's schema; it changes nothing and stops."""


class Runtime:
    """The long-lived parts, built once per process; the session factory (and the ORM) when first used."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine

    @cached_property
    def factory(self) -> sessionmaker[Session]:
        """Sessions on this runtime's engine."""
        return make_session_factory(self.engine)


def utc_now() -> datetime:
    """The real clock, aware UTC."""
    return datetime.now(UTC)


def open_runtime(settings: Settings, migrate: bool = True) -> Runtime:
    """Connect to the database, upgrade its schema, and load the demo community in sandbox mode."""
    runtime = Runtime(settings, make_engine(settings.database_url))
    if migrate:
        try:
            prepare_database(settings, runtime.engine, runtime.factory)
        except BaseException:
            runtime.engine.dispose()
            raise
    return runtime


def prepare_database(settings: Settings, engine: Engine, factory: sessionmaker[Session]) -> None:
    """Migrate, and seed the demo in sandbox mode; safe when `serve` and `scheduler` start together."""
    # Imported here: the demo loader is only needed when the schema may change.
    from storage.demo import seed_community

    with startup_lock(engine):
        upgrade(engine)
        if settings.sandbox:
            with transaction(factory) as session:
                if seed_community(session, settings.demo_path, utc_now()):
                    log.info("demo community loaded from %s", settings.demo_path)


def open_for_reading(settings: Settings) -> Runtime:
    """Connect for a command that only reads: it migrates nothing, so a schema not at head stops it.

    Even an empty sandbox database is not prepared here: that loads Alembic and runs every migration
    (seconds), and a listing that quietly writes would surprise; the message says what to run once.
    """
    runtime = open_runtime(settings, migrate=False)
    try:
        current, head = current_revisions(runtime.engine), head_revision()
    except BaseException:
        runtime.engine.dispose()
        raise
    if head is None or current != [head]:
        runtime.engine.dispose()
        raise SchemaBehind(schema_advice(current, head))
    return runtime


def schema_advice(current: list[str], head: str | None) -> str:
    """One line: what the database's schema is, and the command that brings it up to date."""
    fix = "run `uv run run.py migrate` once (or start the server, `uv run run.py`, which migrates too)"
    if not current:
        return f"the database has no GridDesk tables yet: {fix}"
    needed = f"this GridDesk needs {head}" if head else "this GridDesk's migrations name no single newest"
    return f"the database schema is behind ({', '.join(current)}; {needed}): {fix}"


def migrate_command(settings: Settings, _args: argparse.Namespace) -> int:
    """Bring the schema up to date (and load the demo in sandbox mode), as `serve` does when it starts."""
    runtime = open_runtime(settings)
    try:
        revisions = current_revisions(runtime.engine)
    finally:
        runtime.engine.dispose()
    print(f"database {shown_url(settings.database_url)} is at schema {', '.join(revisions)} (newest)")
    return 0


def shown_url(url: str) -> str:
    """A database URL fit for a terminal or a log: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def shown_path(path: Path) -> str:
    """A path relative to the project when it is inside it."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)
