"""Staff console accounts: created from the command line, tied to Worker rows, passwords hashed."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from config.settings import ConsoleSettings
from handlers.invites import ROLES
from storage.models import Grid, SigninThrottle, StaffAccount, Worker

LOGIN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,49}$")
MIN_PASSWORD_LENGTH = 8


class AccountError(ValueError):
    """An account cannot be created or changed as asked; the message says why."""


def check_password_rules(password: str) -> None:
    """Refuse passwords too short to be worth hashing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")


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
) -> StaffAccount:
    """A console account for the existing Worker of that name and role, or for a new one on its grids."""
    login = login.strip().lower()
    if not LOGIN.match(login):
        raise AccountError("the login takes 2-50 letters, digits, dots, dashes or underscores")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    check_password_rules(password)
    if session.scalar(select(StaffAccount.id).where(StaffAccount.login == login)) is not None:
        raise AccountError(f"the login {login!r} is taken")
    worker = _existing_worker(session, name, role) or _new_worker(session, name, role, grid_codes, phone)
    if session.scalar(select(StaffAccount.id).where(StaffAccount.worker_id == worker.id)) is not None:
        raise AccountError(f"{name} ({role}) already has a console account")
    account = StaffAccount(
        worker=worker,
        login=login,
        password_hash=generate_password_hash(password),
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
    session: Session, name: str, role: str, grid_codes: tuple[str, ...], phone: str | None
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
    worker = Worker(name=name, role=role, phone=phone)
    session.add(worker)
    session.flush()
    for grid in grids:
        if role == "worker":
            grid.worker = worker
        elif role == "leader":
            grid.leader = worker
    return worker


def set_password(session: Session, now: datetime, login: str, password: str) -> StaffAccount:
    """Change a password; sessions signed in with the old one stop working."""
    check_password_rules(password)
    account = session.scalar(select(StaffAccount).where(StaffAccount.login == login.strip().lower()))
    if account is None:
        raise AccountError(f"no console account {login!r}")
    account.password_hash = generate_password_hash(password)
    account.password_changed_at = now
    return account


def set_active(session: Session, login: str, active: bool) -> StaffAccount:
    """Disable an account (its sessions end at once) or enable it again."""
    account = session.scalar(select(StaffAccount).where(StaffAccount.login == login.strip().lower()))
    if account is None:
        raise AccountError(f"no console account {login!r}")
    account.active = active
    return account


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
    session: Session, console: ConsoleSettings, now: datetime, login: str, password: str, address: str
) -> SigninResult:
    """Check a login and password, unless too many recent failures locked the login or the address."""
    login = login.strip().lower()[:50]
    keys = {f"login:{login}": console.signin_max_failures}
    if console.signin_max_failures_per_address > 0:
        keys[f"addr:{address[:100]}"] = console.signin_max_failures_per_address
    rows = {key: _throttle_row(session, key, now) for key in keys}
    locked = [row.locked_until for row in rows.values() if row.locked_until and row.locked_until > now]
    if locked:
        minutes = max(1, math.ceil((max(locked) - now).total_seconds() / 60))
        return SigninResult(None, f"登录失败次数过多,请{minutes}分钟后再试。")
    account = session.scalar(select(StaffAccount).where(StaffAccount.login == login))
    valid = check_password_hash(account.password_hash if account else _dummy_hash(), password)
    if account is None or not valid or not account.active:
        for key, limit in keys.items():
            _count_failure(rows[key], console, now, limit)
        return SigninResult(None, WRONG)
    rows[f"login:{login}"].failures = 0
    account.last_signin_at = now
    return SigninResult(account)


@cache
def _dummy_hash() -> str:
    """Checked when the login is unknown, so a wrong login takes as long as a wrong password."""
    return generate_password_hash("griddesk-no-such-account")


def _throttle_row(session: Session, key: str, now: datetime) -> SigninThrottle:
    """The throttle row for a key, created on first use (a racing creator's row is read instead)."""
    row = session.get(SigninThrottle, key)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = SigninThrottle(key=key, failures=0, window_started_at=now)
            session.add(row)
        return row
    except IntegrityError:
        existing = session.get(SigninThrottle, key)
        assert existing is not None
        return existing


def _count_failure(row: SigninThrottle, console: ConsoleSettings, now: datetime, limit: int) -> None:
    """Count one failure in the current window; the limit-th locks the key for the lockout time."""
    window = timedelta(minutes=console.signin_lockout_minutes)
    if now - row.window_started_at > window:
        row.failures, row.window_started_at = 0, now
    row.failures += 1
    if row.failures >= limit:
        row.locked_until, row.failures, row.window_started_at = now + window, 0, now
