"""`community load`, `worker` (invite, leave) and `staff` (console accounts but the list: listings.py)."""

from __future__ import annotations

import argparse
import getpass
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from bot.commands.runtime import Runtime, open_runtime
from bot.console.accounts import AccountError, add_staff, set_active, set_password
from config.settings import Settings
from handlers.people.departures import DepartureError, leave, serving_worker, take_over
from handlers.people.invites import InviteError, create_invite, grid_holders
from storage.community import CommunityFileError, load_community
from storage.db import transaction
from storage.models import Grid, Worker


def worker_command(settings: Settings, args: argparse.Namespace) -> int:
    """Invite a worker (prints a one-time binding code) or record one leaving (`worker list`: listings.py)."""
    runtime = open_runtime(settings)
    try:  # called in-process too (tests, scripts): no connection left open
        if args.action == "leave":
            return worker_leave(settings, runtime, args)
        return worker_invite(settings, runtime, args)
    finally:
        runtime.close()


def worker_invite(settings: Settings, runtime: Runtime, args: argparse.Namespace) -> int:
    """Print a one-time binding code, and what binding it will change."""
    with transaction(runtime.factory) as session:
        try:
            made = create_invite(
                session,
                runtime.clock(),
                name=args.name,
                role=args.role,
                grid_codes=tuple(args.grid),
                backup=args.backup,
                phone=args.phone,
                hours=settings.escalation.invite_hours,
                new_wechat=args.new_wechat,
                replace=args.replace,
            )
        except InviteError as exc:
            print(f"cannot invite: {exc}", file=sys.stderr)
            return 2
        invite = made.invite
        # Printed once: the database keeps only the code's hash, so it cannot be shown again.
        print(f"Binding code for {invite.name} ({invite.role}): {made.code}")
        print(
            f'Ask them to send "绑定 {made.code}" to the Official Account within '
            f"{settings.escalation.invite_hours} hours. The code works once."
        )
        for grid, holder in grid_holders(session, invite.name, invite.role, tuple(args.grid)):
            print(
                f"Once it is bound, {invite.name} takes {grid.code} ({grid.name}) over from {holder.name}, "
                f"with {holder.name}'s unsigned tickets there; {holder.name} and the grid's "
                f"{'leader' if invite.role == 'worker' else 'worker'} are told."
            )
    return 0


def worker_leave(settings: Settings, runtime: Runtime, args: argparse.Namespace) -> int:
    """Unbind a worker who left and pass on their grids, backups and open tickets; print what moved."""
    try:
        with transaction(runtime.factory) as session:
            worker = serving_worker(session, args.name, args.role)
            successor = serving_worker(session, args.to, worker.role) if args.to else None
            departure = leave(runtime.services(session), worker, successor)
    except DepartureError as exc:
        print(f"cannot record the departure: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name} has left: WeChat unbound, nothing more is sent to them.")
    print(f"Grids: {', '.join(departure.grids) or 'none'} -> {args.to or 'nobody (the ladder covers them)'}")
    for number, holder in departure.tickets.items():
        print(f"Ticket #{number} -> {holder or 'NOBODY ON DUTY: assign it by hand'}")
    print(f"Pushes not sent: {departure.pushes_cancelled}.")
    if departure.console_closed:
        print("Console account disabled.")
    return 0


def staff_command(settings: Settings, args: argparse.Namespace) -> int:
    """Console accounts: add, disable, enable, or change a password (`staff list` is in listings.py)."""
    runtime = open_runtime(settings)
    try:
        if args.action in ("disable", "enable"):
            with transaction(runtime.factory) as session:
                set_active(session, runtime.clock(), args.login, args.action == "enable")
            ended = "; its sessions and unused push links have ended" if args.action == "disable" else ""
            print(f"console account {args.login!r} {args.action}d{ended}")
            return 0
        password = read_password(args.password_stdin)
        with transaction(runtime.factory) as session:
            if args.action == "add":
                account = add_staff(
                    session,
                    runtime.clock(),
                    name=args.name,
                    login=args.login,
                    role=args.role,
                    password=password,
                    grid_codes=tuple(args.grid),
                    phone=args.phone,
                    take_over=_telling_take_over(runtime, session) if args.replace else None,
                )
                console = f"{settings.mount}/console"  # another community's is under /c/<slug>
                print(f"console account {account.login!r} created ({account.worker.role}), at {console}")
            else:
                set_password(session, runtime.clock(), args.login, password)
                print(f"password of {args.login!r} changed; its sessions and unused push links have ended")
    except AccountError as exc:
        print(f"cannot {args.action}: {exc}", file=sys.stderr)
        return 2
    finally:
        runtime.close()
    return 0


def _telling_take_over(runtime: Runtime, session: Session) -> Callable[[Grid, Worker, Worker], object]:
    """`staff add --replace`: unsigned tickets follow the grid, and the people concerned are told."""
    services = runtime.services(session)
    return lambda grid, previous, newcomer: take_over(services, grid, previous, newcomer)


def read_password(from_stdin: bool) -> str:
    """The first line of standard input, or typed twice at a prompt; never a command-line argument."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        raise AccountError("the two passwords differ")
    return password


def community_command(settings: Settings, args: argparse.Namespace) -> int:
    """Load grids, buildings and staff (the layout of config/demo.toml); print each change (--dry-run:
    print them and write nothing)."""
    runtime = open_runtime(settings)
    try:
        with runtime.factory() as session:
            changes = load_community(session, Path(args.file), runtime.clock())
            if args.dry_run:
                session.rollback()
            else:
                session.commit()
    except CommunityFileError as exc:
        print(f"cannot load {args.file}: {exc}", file=sys.stderr)
        return 2
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"cannot load {args.file}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        runtime.close()
    for change in changes or ["no changes"]:
        print(change)
    if args.dry_run:
        print("dry run: nothing was written")
    return 0
