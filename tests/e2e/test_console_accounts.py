"""`run.py staff add | list | password`: accounts for existing or new workers; passwords never in argv."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from bot.console import accounts
from bot.console.accounts import AccountError, add_staff
from storage.db import make_engine, make_session_factory, transaction
from storage.models import Grid, OutboxMessage, StaffAccount, Worker
from tests.cli import Ran, run_in_process
from tests.conftest import PRODUCTION_PASSWORD_METHOD, command_env


def staff(env: dict[str, str], *args: str, password: str | None = None) -> Ran:
    """`run.py staff ARGS`, the password (if any) on standard input."""
    if password is None:
        return run_in_process(env, "staff", *args)
    return run_in_process(env, "staff", *args, "--password-stdin", stdin=f"{password}\n")


def rows(env: dict[str, str]) -> list[dict]:
    result = staff(env, "list")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_staff_accounts_link_to_existing_workers_or_new_ones_on_their_grids(tmp_path: Path) -> None:
    env = command_env(tmp_path / "staff.db")
    added = staff(env, "add", "--name", "王芳", "--login", "WangFang", password="s3cret-pass")
    assert added.returncode == 0, added.stderr
    assert "'wangfang'" in added.stdout and "s3cret-pass" not in added.stdout + added.stderr
    leader_of_g3 = ("add", "--name", "周强", "--login", "zhouqiang", "--role", "leader", "--grid", "G3")
    refused = staff(env, *leader_of_g3, password="another-pass")
    assert refused.returncode == 2
    assert refused.stderr == (
        "cannot add: G3 (第三网格) has 赵建国 as its leader; add --replace to hand it to 周强\n"
    )
    made = staff(env, *leader_of_g3, "--replace", password="another-pass")
    assert made.returncode == 0, made.stderr
    listed = {row["login"]: row for row in rows(env)}
    assert listed["wangfang"] | {"last_signin_at": None} == {
        "login": "wangfang", "name": "王芳", "role": "worker", "grids": ["G1"], "active": True,
        "last_signin_at": None,
    }  # fmt: skip
    assert listed["zhouqiang"]["grids"] == ["G3"]
    engine = make_engine(env["GRIDDESK_DATABASE_URL"])
    try:
        with transaction(make_session_factory(engine)) as session:
            wang = session.scalar(select(Worker).where(Worker.name == "王芳"))
            assert wang.openid == "demo-worker-wang"  # the demo's worker, not a second 王芳
            assert session.scalar(select(Grid.leader_id).where(Grid.code == "G3")) is not None
            staff_changes = select(OutboxMessage.text).where(OutboxMessage.kind == "staff_change")
            told = session.scalars(staff_changes).all()
            assert any("周强" in text for text in told)  # 赵建国, replaced on G3, is told
            hashes = session.scalars(select(StaffAccount.password_hash)).all()
            assert all("pass" not in stored for stored in hashes)
    finally:
        engine.dispose()


def test_bad_requests_are_refused_with_a_reason(factory, clock) -> None:
    add = partial(add_staff, now=clock(), password="s3cret-pass")
    with transaction(factory) as session:
        add(session, name="王芳", login="wf", role="worker")
    cases = [
        ({"name": "王芳", "login": "wf2", "role": "worker"}, "already has a console account"),
        ({"name": "李骁", "login": "WF", "role": "worker"}, "is taken"),
        ({"name": "新人", "login": "xinren", "role": "worker"}, "exactly one --grid"),
        ({"name": "新人", "login": "xinren", "role": "leader"}, "at least one --grid"),
        ({"name": "新", "login": "xinren", "role": "worker", "grid_codes": ("G9",)}, "no grid with code G9"),
        ({"name": "李骁", "login": "李骁", "role": "worker"}, "letters, digits"),
        ({"name": "李骁", "login": "lixiao", "role": "worker", "password": "short"}, "at least 10 char"),
    ]
    for fields, reason in cases:
        with pytest.raises(AccountError, match=reason), transaction(factory) as session:
            add(session, **fields)


def test_the_command_explains_a_refusal_and_exits_2(tmp_path: Path) -> None:
    env = command_env(tmp_path / "staff.db")
    result = staff(env, "password", "nobody", password="s3cret-pass")
    assert result.returncode == 2 and "no console account 'nobody'" in result.stderr


def test_a_password_can_be_changed_and_is_never_an_argument(tmp_path: Path) -> None:
    env = command_env(tmp_path / "staff.db")
    assert staff(env, "add", "--name", "王芳", "--login", "wf", password="s3cret-pass").returncode == 0
    changed = staff(env, "password", "wf", password="n3w-password")
    assert changed.returncode == 0 and "changed" in changed.stdout
    refused = run_in_process(env, "staff", "add", "--name", "李骁", "--login", "lx", "--password", "x")
    assert refused.returncode == 2 and "unrecognized arguments: --password" in refused.stderr


def test_production_hashes_passwords_with_scrypt_at_werkzeug_s_full_work_factor(
    factory, clock, monkeypatch
) -> None:
    # The other tests hash at a cheaper factor (tests/conftest.py); this one runs production's.
    monkeypatch.setattr(accounts, "PASSWORD_METHOD", PRODUCTION_PASSWORD_METHOD)
    with transaction(factory) as session:
        add_staff(session, clock(), name="王芳", login="wf", role="worker", password="s3cret-pass")
    with transaction(factory) as session:
        stored = session.scalars(select(StaffAccount.password_hash)).one()
    assert stored.startswith("scrypt:32768:8:1$")
    assert check_password_hash(stored, "s3cret-pass") and not check_password_hash(stored, "s3cret-pasS")
