"""Where a benchmark runs: a fresh SQLite file, or a fresh database on a PostgreSQL server."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


@contextmanager
def fresh_database(server_url: str | None, folder: Path) -> Iterator[str]:
    """A SQLite file in the folder, or a new database on the PostgreSQL server (dropped afterwards)."""
    if server_url is None:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    name = f"griddesk_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def in_fresh_database(
    prefix: str, server_url: str | None, run: Callable[[Path, str], int], stopped: str, heading: str
) -> int:
    """Print `heading`, then `run(folder, database_url)` in a temporary folder on a fresh database.

    SIGTERM unwinds as Ctrl-C does, so servers are stopped and a PostgreSQL database dropped either way.
    """
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    print(heading)
    try:
        with (
            tempfile.TemporaryDirectory(prefix=prefix) as name,
            fresh_database(server_url, Path(name)) as database_url,
        ):
            return run(Path(name), database_url)
    except KeyboardInterrupt:
        print(f"interrupted: {stopped}, temporary files removed", file=sys.stderr)
        return 130


def describe_database(url: str) -> str:
    """Which database, and its server's version."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                version = connection.exec_driver_sql("select sqlite_version()").scalar()
                return f"SQLite {version}, a fresh file"
            version = connection.exec_driver_sql("show server_version").scalar()
            return f"PostgreSQL {version}, a fresh database on {engine.url.host}:{engine.url.port}"
    finally:
        engine.dispose()
