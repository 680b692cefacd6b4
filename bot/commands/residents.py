"""`residents import`, `residents export` and `residents family-code`: the household register (台账)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from bot.commands.runtime import Runtime, open_for_reading, open_runtime
from config.settings import Settings
from handlers.people.claims import claim_entries_after_import
from handlers.people.family_codes import FollowerError, code_instructions, issue_family_code
from handlers.people.forgetting import AlreadyForgotten, ForgetError, find_resident
from handlers.register.export import export_register
from handlers.register.importer import import_register
from handlers.register.limits import ImportLimits, RegisterFileError
from storage.community import minutes_after_midnight
from storage.db import transaction
from storage.models import Resident


def residents_command(settings: Settings, args: argparse.Namespace) -> int:
    """Import the household register (台账) from CSV or XLSX, or export it (which only reads)."""
    runtime = open_for_reading(settings) if args.action == "export" else open_runtime(settings)
    try:
        return _residents(settings, args, runtime)
    finally:
        runtime.close()  # called in-process too (tests, scripts): no connection left open


def _residents(settings: Settings, args: argparse.Namespace, runtime: Runtime) -> int:
    if args.action == "family-code":
        return _family_code(args, runtime)
    with transaction(runtime.factory) as session:
        if args.action == "export":
            count = export_register(session, args.file or sys.stdout)
            if args.file:
                print(f"wrote {count} residents to {args.file}", file=sys.stderr)
            return 0
        try:
            report = import_register(
                session,
                args.file,
                default_checkin_minute=minutes_after_midnight(settings.checkins.default_time),
                now=runtime.clock(),
                limits=ImportLimits(**asdict(settings.register)),
            )
        except RegisterFileError as exc:
            print(f"cannot import {args.file}: {exc}", file=sys.stderr)
            return 2
        claims = claim_entries_after_import(runtime.services(session))
        waiting = [f"#{claim.id} {session.get_one(Resident, claim.entry_id).address}" for claim in claims]
    # What was made of the header first: it explains the rows' problems that follow.
    for line in [*report.column_notes, *map(str, report.bad), *report.notes]:
        print(line)
    print(report.summary)
    if waiting:
        # Someone bound these flats on WeChat before the register listed them: their worker confirms.
        print(f"bindings waiting for the grid worker's 确认绑定: {', '.join(waiting)}")
    if report.bad and not report.created + report.updated + report.unchanged:
        print(f"nothing imported from {args.file}: every row is bad (see above)", file=sys.stderr)
        return 1
    return 0


def _family_code(args: argparse.Namespace, runtime: Runtime) -> int:
    """Print a one-time code that lets a family member follow the elder's check-ins on WeChat."""
    if not 1 <= args.hours <= 24 * 7:
        print("cannot make a family code: --hours must be between 1 and 168", file=sys.stderr)
        return 2
    try:
        with transaction(runtime.factory) as session:
            elder = find_resident(session, args.openid, args.address, args.name)
            if isinstance(elder, AlreadyForgotten):
                raise ForgetError("that resident was forgotten")
            relation = (args.relation or "").strip() or None
            code = issue_family_code(session, runtime.clock(), elder, "社区", args.hours, relation)
            print(code_instructions(elder, code, args.hours, relation))
    except (ForgetError, FollowerError) as exc:
        print(f"cannot make a family code: {exc}", file=sys.stderr)
        return 2
    return 0
