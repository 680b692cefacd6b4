"""Backups while GridDesk runs: SQLite's online backup API, or pg_dump for PostgreSQL (docs/operations.md).

Either way the copy is consistent (one snapshot of the database, however busy the webhook is), written
beside its final name first and renamed when complete, so a half-written file never looks like a backup.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

# Pages copied per step: the webhook's writers get a turn between steps instead of waiting for the end.
SQLITE_PAGES_PER_STEP = 1024


class BackupError(RuntimeError):
    """The backup could not be made; the message says why in one line."""


def backup_path(destination: str, url: str, now: datetime, name: str = "griddesk") -> Path:
    """The file to write: destination itself, or a dated name in it for a folder (a trailing / makes one)."""
    path = Path(destination)
    if is_folder(destination):
        path.mkdir(parents=True, exist_ok=True)
        suffix = ".db" if _is_sqlite(make_url(url)) else ".dump"
        path = path / f"{name}-{now:%Y%m%d-%H%M%S}{suffix}"
    if path.exists():
        raise BackupError(f"{path} exists already: name a new file, or a folder")
    if not path.parent.is_dir():
        raise BackupError(f"no folder {path.parent} to write the backup into")
    return path


def is_folder(destination: str) -> bool:
    """Whether a backup's destination names a folder: one that exists, or any path ending in /."""
    return Path(destination).is_dir() or destination.endswith(("/", os.sep))


def back_up(url: str, target: Path) -> Path:
    """Copy the database at url into target (a new file); returns target."""
    parsed = make_url(url)
    partial = target.with_name(f".{target.name}.partial")
    try:
        if _is_sqlite(parsed):
            _sqlite_backup(parsed, partial)
        else:
            _pg_dump(parsed, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _sqlite_backup(url: URL, partial: Path) -> None:
    """sqlite3's online backup: page by page, restarting on its own when a writer changes a copied page."""
    database = url.database
    if not database or database == ":memory:" or not Path(database).is_file():
        raise BackupError(f"no SQLite database file at {database!r}")
    # Read-only: the backup must never create, migrate or lock the live file for writing.
    with (
        closing(sqlite3.connect(f"{Path(database).resolve().as_uri()}?mode=ro", uri=True)) as source,
        closing(sqlite3.connect(partial)) as copy,
    ):
        source.backup(copy, pages=SQLITE_PAGES_PER_STEP)
        # A backup is one file, whatever journal mode the live database uses.
        copy.execute("PRAGMA journal_mode=DELETE")


def _pg_dump(url: URL, partial: Path) -> None:
    """pg_dump's custom format (for pg_restore): one consistent snapshot; the password via the environment."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError(
            "pg_dump is not on PATH: install PostgreSQL's client tools (apt-get install postgresql-client)"
        )
    # Never on the command line, where `ps` shows it to every user of the machine.
    env = os.environ | ({"PGPASSWORD": url.password} if url.password else {})
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    command = [pg_dump, "--format=custom", "--no-owner", f"--file={partial}", f"--dbname={libpq}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise BackupError(f"pg_dump failed: {lines[-1]}")
