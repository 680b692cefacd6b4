"""`run.py backup` while GridDesk writes, then the restore of docs/operations.md after a bad day.

On SQLite always; on PostgreSQL (pg_dump, pg_restore) when GRIDDESK_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from run import main
from storage.db import make_engine
from tests.conftest import ON_POSTGRESQL, database_url

ZHANG = "demo-resident-zhang"


@pytest.fixture
def office(monkeypatch, settings, factory, wechat):
    """A community with one ticket (张秀兰's leak), and `run.py` in-process on its database."""
    wechat.say(ZHANG, "卫生间水管漏水了")
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", settings.database_url)
    return main


@contextmanager
def busy_writer(engine: Engine) -> Iterator[None]:
    """Another process half-way through a write it never commits, while the backup runs."""
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(text("UPDATE tickets SET summary = 'half-written'"))
        try:
            yield
        finally:
            transaction.rollback()


def bad_day(url: str) -> None:
    """Someone runs a careless UPDATE: every resident's name and phone is gone."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE residents SET name = NULL, phone = NULL"))
    finally:
        engine.dispose()


def read(url: str) -> tuple[str | None, str]:
    """张秀兰's name and her ticket's words, as the restored database holds them."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            name = connection.scalar(text("SELECT name FROM residents WHERE openid = :o"), {"o": ZHANG})
            return name, connection.scalar(text("SELECT summary FROM tickets WHERE id = 1"))
    finally:
        engine.dispose()


@pytest.mark.skipif(ON_POSTGRESQL, reason="the SQLite procedure")
def test_a_sqlite_backup_taken_mid_write_restores_by_copying_the_file_back(
    office, settings, factory, tmp_path, capsys
) -> None:
    backups = tmp_path / "backups"
    with busy_writer(factory.kw["bind"]):
        assert office(["backup", f"{backups}/"]) == 0  # a trailing / makes the folder
    (copy,) = backups.iterdir()
    assert capsys.readouterr().out.startswith(f"backed up sqlite:///{tmp_path}/griddesk.db to {copy} (")
    bad_day(settings.database_url)
    assert read(settings.database_url)[0] is None
    factory.kw["bind"].dispose()  # GridDesk stopped

    live = Path(make_url(settings.database_url).database)
    for damaged in tmp_path.glob("griddesk.db*"):  # the file, and its -wal and -shm beside it
        damaged.rename(tmp_path / f"damaged-{damaged.name}")
    shutil.copy(copy, live)

    assert read(settings.database_url) == ("张秀兰", "卫生间水管漏水了")


@pytest.mark.skipif(not ON_POSTGRESQL, reason="needs GRIDDESK_TEST_DATABASE_URL (PostgreSQL)")
def test_a_postgresql_backup_taken_mid_write_restores_into_a_fresh_database(
    office, settings, factory, tmp_path, capsys
) -> None:
    dump = tmp_path / "griddesk.dump"
    with busy_writer(factory.kw["bind"]):
        assert office(["backup", str(dump)]) == 0
    assert f"to {dump} (" in capsys.readouterr().out
    bad_day(settings.database_url)

    fresh = make_url(database_url(tmp_path / "restored.db"))  # an empty database, as `createdb` makes
    env = os.environ | {"PGPASSWORD": fresh.password or ""}
    target = fresh.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={target}", str(dump)], env=env, check=True)

    assert read(fresh.render_as_string(hide_password=False)) == ("张秀兰", "卫生间水管漏水了")


def test_an_existing_file_is_never_overwritten(office, tmp_path, capsys) -> None:
    old = tmp_path / "monday.db"
    old.write_bytes(b"last week's backup")

    assert office(["backup", str(old)]) == 2

    assert capsys.readouterr().err == f"cannot back up: {old} exists already: name a new file, or a folder\n"
    assert old.read_bytes() == b"last week's backup"


def test_postgresql_without_pg_dump_is_one_line(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", "postgresql+psycopg://griddesk:s3cret@127.0.0.1:1/griddesk")
    monkeypatch.setenv("PATH", str(tmp_path))

    assert main(["backup", str(tmp_path)]) == 2

    assert capsys.readouterr().err == (
        "cannot back up: pg_dump is not on PATH: install PostgreSQL's client tools "
        "(apt-get install postgresql-client)\n"
    )


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="needs pg_dump")
def test_a_failed_pg_dump_is_one_line_without_the_password(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", "postgresql+psycopg://griddesk:s3cret@127.0.0.1:1/griddesk")

    assert main(["backup", str(tmp_path)]) == 2

    err = capsys.readouterr().err
    assert err.startswith("cannot back up: pg_dump failed: ") and err.count("\n") == 1
    assert "s3cret" not in err and list(tmp_path.iterdir()) == []
