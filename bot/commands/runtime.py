"""What the commands share: a runtime (bot/bootstrap.py) migrated or schema-checked, and `migrate`."""

from __future__ import annotations

import argparse
import sys
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


def migrate_command(settings: Settings, args: argparse.Namespace) -> int:
    """Bring every community's schema up to date (and load the demo in sandbox mode), as `serve` does."""
    from bot.street import open_street  # the register is read only by the commands that serve them all

    if args.community is not None:
        print("migrate brings every community up to date: leave out --community", file=sys.stderr)
        return 2
    street = open_street(settings).prepare()
    try:
        for runtime in street:
            url = shown_url(runtime.settings.database_url)
            print(f"database {url} is at schema {', '.join(current_revisions(runtime.engine))} (newest)")
    finally:
        street.close()
    return 0


def shown_url(url: str) -> str:
    """A database URL fit for a terminal or a log: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def shown_path(path: Path) -> str:
    """A path relative to the project when it is inside it."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)
