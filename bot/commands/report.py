"""`report`: a day's, week's or month's report (日报/周报/月报), printed or as Excel."""

from __future__ import annotations

import argparse
import sys

from bot.commands.runtime import Runtime, open_for_reading
from config.settings import Settings
from handlers.jobs.reports import (
    build_report,
    grid_scopes,
    local_today,
    period_for,
    report_detail,
    report_xlsx,
    scope_for_community,
    scope_for_grid,
)
from storage.db import transaction


def report_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print a day's, week's or month's report; --xlsx writes it (the community's with every grid's)."""
    runtime = open_for_reading(settings)
    try:
        return _report(settings, args, runtime)
    finally:
        runtime.close()


def _report(settings: Settings, args: argparse.Namespace, runtime: Runtime) -> int:
    """Build the reports the options ask for and print or write them."""
    now = runtime.clock()
    period = period_for(args.period, args.date or local_today(now, settings.timezone))
    with transaction(runtime.factory) as session:
        try:
            scope = scope_for_grid(session, args.grid) if args.grid else None
        except LookupError:
            print(f"unknown grid: {args.grid}", file=sys.stderr)
            return 2
        scope = scope or scope_for_community(session, runtime.domain)
        scopes = [scope, *(grid_scopes(session) if args.xlsx and not args.grid else [])]
        reports = [build_report(session, runtime.domain, each, period, now) for each in scopes]
    if args.xlsx is None:
        print(report_detail(reports[0]))
        return 0
    args.xlsx.write_bytes(report_xlsx(reports))
    print(f"wrote {len(reports)} reports ({period.label}) to {args.xlsx}", file=sys.stderr)
    return 0
