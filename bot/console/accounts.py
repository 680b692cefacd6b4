"""Staff console accounts: created from the command line, tied to Worker rows, passwords hashed."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from bot.console.links import end_links
from bot.console.passwords import password_problem
from bot.console.sessions import end_sessions
from config.settings import ConsoleSettings
from handlers.people.invites import ROLES
from storage.db import transaction
from storage.models import Grid, SigninThrottle, StaffAccount, Worker

# Called once a new staff member holds a grid someone else held (handlers/departures.take_over in run.py).
TakeOver = Callable[[Grid, Worker, Worker], object]
LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,49}$")
# scrypt at Werkzeug's default work factor (2**15, r=8, p=1: 32 MB and about 0.1 s a hash), named here so
# the tests can hash at a cheaper one (tests/conftest.py); tests/e2e/test_console_accounts.py pins this one.
PASSWORD_METHOD = "scrypt:32768:8:1"


class AccountError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


def check_password_rules(password: str, login: str) -> None:
    """Refuse passwords that are short, common, digits only or contain the login (see passwords.py)."""
    problem = password_problem(password, login)
    if problem is not None:
        raise AccountError(problem)


def add_staff(
    session: Session,
    now: datetime,
    *,
    name: str,
    login: str,
    role: str,
    password: str,
    grid_codes: tuple[str, ...] = (),
    phone: str | None = None,
    take_over: TakeOver | None = None,
) -> StaffAccount:
    """A console account for the existing Worker of that name and role, or for a new one on its grids.

    A grid that already has a worker (or leader, for a new leader) is refused unless `take_over` is given
    (`staff add --replace`); it is then called for each such grid once the newcomer holds it.
    """
    login = login.strip().lower()
    if not LOGIN.match(login):
        raise AccountError("the login takes 2-50 letters, digits, dots, dashes or underscores")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    check_password_rules(password, login)
    if session.scalar(select(StaffAccount.id).where(StaffAccount.login == login)) is not None:
        raise AccountError(f"the login {login!r} is taken")
    worker = _existing_worker(session, name, role) or _new_worker(
        session, name, role, grid_codes, phone, take_over
    )
    if session.scalar(select(StaffAccount.id).where(StaffAccount.worker_id == worker.id)) is not None:
        raise AccountError(f"{name} ({role}) already has a console account")
    account = StaffAccount(
        worker=worker,
        login=login,
        password_hash=generate_password_hash(password, PASSWORD_METHOD),
        created_at=now,
        password_changed_at=now,
    )
    session.add(account)
    session.flush()
    return account


def _existing_worker(session: Session, name: str, role: str) -> Worker | None:
    query = select(Worker).where(Worker.name == name, Worker.role == role, Worker.left_at.is_(None))
    query = query.order_by(Worker.id)
    return session.scalars(query).first()


def _new_worker(
    session: Session,
    name: str,
    role: str,
    grid_codes: tuple[str, ...],
    phone: str | None,
    take_over: TakeOver | None,
) -> Worker:
    """A new Worker placed on its grids, with the rules of `run.py worker invite`."""
    if role == "worker" and len(grid_codes) != 1:
        raise AccountError("a new grid worker needs exactly one --grid")
    if role == "leader" and not grid_codes:
        raise AccountError("a new grid leader needs at least one --grid")
    grids = list(session.scalars(select(Grid).where(Grid.code.in_(grid_codes)).order_by(Grid.code)))
    missing = sorted(set(grid_codes) - {grid.code for grid in grids})
    if missing:
        raise AccountError(f"no grid with code {', '.join(missing)}")
    slot = {"worker": "worker", "leader": "leader"}.get(role)
    held = [(grid, getattr(grid, slot)) for grid in grids if slot and getattr(grid, slot) is not None]
    if held and take_over is None:
        holders = ", ".join(f"{grid.code} ({grid.name}) has {holder.name}" for grid, holder in held)
        raise AccountError(f"{holders} as its {role}; add --replace to hand it to {name}")
    worker = Worker(name=name, role=role, phone=phone)
    session.add(worker)
    session.flush()
    for grid in grids:
        if slot:
            setattr(grid, slot, worker)
    if take_over is not None:
        for grid, holder in held:
            take_over(grid, holder, worker)
    return worker


def set_password(session: Session, now: datetime, login: str, password: str) -> StaffAccount:
    """Change a password; every session of the person ends and their unused push links stop working."""
    login = login.strip().lower()
    account = session.scalar(select(StaffAccount).where(StaffAccount.login == login))
    if account is None:
        raise AccountError(f"no console account {login!r}")
    check_password_rules(password, login)
    account.password_hash = generate_password_hash(password, PASSWORD_METHOD)
    account.password_changed_at = now
    _sign_out_everywhere(session, account, now)
    return account


def set_active(session: Session, now: datetime, login: str, active: bool) -> StaffAccount:
    """Disable an account (its sessions and unused links end at once, new links open nothing) or enable it."""
    account = session.scalar(select(StaffAccount).where(StaffAccount.login == login.strip().lower()))
    if account is None:
        raise AccountError(f"no console account {login!r}")
    account.active = active
    if not active:
        _sign_out_everywhere(session, account, now)
    return account


def _sign_out_everywhere(session: Session, account: StaffAccount, now: datetime) -> None:
    end_sessions(session, account.worker_id, now)
    end_links(session, account.worker_id)


@dataclass(frozen=True)
class AccountRow:
    """One line of `run.py staff list`."""

    login: str
    name: str
    role: str
    grids: list[str]
    active: bool
    last_signin_at: str | None


def list_staff(session: Session) -> list[AccountRow]:
    """Every console account with its worker's role and grids."""
    grids = list(session.scalars(select(Grid).order_by(Grid.code)))
    rows = []
    for account in session.scalars(select(StaffAccount).order_by(StaffAccount.login)):
        worker = account.worker
        rows.append(
            AccountRow(
                login=account.login,
                name=worker.name,
                role=worker.role,
                grids=[g.code for g in grids if worker.id in (g.worker_id, g.leader_id)],
                active=account.active,
                last_signin_at=account.last_signin_at.isoformat() if account.last_signin_at else None,
            )
        )
    return rows


# Signing in, with a throttle on repeated failures


@dataclass(frozen=True)
class SigninResult:
    """The account signed in, or why not (a Chinese sentence for the sign-in page)."""

    account: StaffAccount | None
    refusal: str | None = None


WRONG = "用户名或密码不正确。"


def sign_in(
    factory: sessionmaker[Session],
    console: ConsoleSettings,
    now: datetime,
    login: str,
    password: str,
    address: str,
) -> SigninResult:
    """Check a login and password, unless too many recent tries locked the login or the address.

    The try is counted first, in its own committed transaction holding the throttle rows' locks, and
    only then is the password checked: of many simultaneous guesses, no more than the limit get checked.
    """
    login = login.strip().lower()[:50]
    limits = {f"login:{login}": console.signin_max_failures}
    if console.signin_max_failures_per_address > 0:
        limits[f"addr:{address[:100]}"] = console.signin_max_failures_per_address
    window = timedelta(minutes=console.signin_lockout_minutes)
    with transaction(factory) as session:
        locked_until = _count_try(session, limits, now, window)
        stored = session.execute(
            select(StaffAccount.id, StaffAccount.password_hash).where(StaffAccount.login == login)
        ).first()
    if locked_until is not None:
        minutes = max(1, math.ceil((locked_until - now).total_seconds() / 60))
        return SigninResult(None, f"登录失败次数过多,请{minutes}分钟后再试。")
    valid = check_password_hash(stored.password_hash if stored else _dummy_hash(PASSWORD_METHOD), password)
    if stored is None or not valid:
        return SigninResult(None, WRONG)
    with transaction(factory) as session:
        account = session.get(StaffAccount, stored.id)
        if account is None or not account.active or account.password_hash != stored.password_hash:
            return SigninResult(None, WRONG)
        _forgive_try(session, limits, now)
        account.last_signin_at = now
        _ = account.worker  # loaded for the caller, who reads it after this unit of work
        return SigninResult(account)


@cache
def _dummy_hash(method: str) -> str:
    """Checked when the login is unknown, so a wrong login takes as long as a wrong password."""
    return generate_password_hash("griddesk-no-such-account", method)


def _count_try(session: Session, limits: dict[str, int], now: datetime, window: timedelta) -> datetime | None:
    """Count one try against every key, or none when a key is locked (then: until when)."""
    rows = {key: _locked_row(session, key, now) for key in sorted(limits)}  # one order: no deadlocks
    locked = [row.locked_until for row in rows.values() if row.locked_until and row.locked_until > now]
    if locked:
        return max(locked)
    for key, row in rows.items():
        if row.locked_until is not None or now - row.window_started_at > window:
            row.failures, row.window_started_at, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= limits[key]:
            row.locked_until = now + window
    return None


def _forgive_try(session: Session, limits: dict[str, int], now: datetime) -> None:
    """A right password: the login starts afresh, and the address gets its try back."""
    for key in sorted(limits):
        row = _locked_row(session, key, now)
        row.failures = 0 if key.startswith("login:") else max(0, row.failures - 1)
        if row.failures < limits[key]:
            row.locked_until = None


def _locked_row(session: Session, key: str, now: datetime) -> SigninThrottle:
    """The throttle row for a key, locked until the transaction ends (made on first use)."""
    row = session.get(SigninThrottle, key, with_for_update=True)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(SigninThrottle(key=key, failures=0, window_started_at=now))
    except IntegrityError:
        pass  # a racing sign-in made it first; reading it below waits for its lock
    row = session.get(SigninThrottle, key, with_for_update=True, populate_existing=True)
    assert row is not None
    return row
