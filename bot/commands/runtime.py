"""What the commands share: a runtime (bot/bootstrap.py) migrated or schema-checked, and `migrate`."""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.bootstrap import Runtime, bootstrap
from config.settings import PROJECT_ROOT, Settings
from storage.db import current_revisions


def open_runtime(settings: Settings, migrate: bool = True) -> Runtime:
    """The runtime of a command that may write: its database migrated (and the demo loaded in the sandbox)."""
    runtime = bootstrap(settings)
    return runtime.prepare() if migrate else runtime


def open_for_reading(settings: Settings) -> Runtime:
    """The runtime of a command that only reads: it migrates nothing, so a schema not at head stops it.

    Even an empty sandbox database is not prepared here: that loads Alembic and runs every migration
    (seconds), and a listing that quietly writes would surprise; the message says what to run once.
    """
    return bootstrap(settings).check_schema()


def migrate_command(settings: Settings, _args: argparse.Namespace) -> int:
    """Bring the schema up to date (and load the demo in sandbox mode), as `serve` does when it starts."""
    runtime = open_runtime(settings)
    try:
        revisions = current_revisions(runtime.engine)
    finally:
        runtime.close()
    print(f"database {shown_url(settings.database_url)} is at schema {', '.join(revisions)} (newest)")
    return 0


def shown_url(url: str) -> str:
    """A database URL fit for a terminal or a log: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def shown_path(path: Path) -> str:
    """A path relative to the project when it is inside it."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)
