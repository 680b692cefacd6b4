"""`resident forget`, `retention run` and `backup`: personal data's life cycle (docs/privacy.md)."""

from __future__ import annotations

import argparse
import getpass
import sys

from bot.commands.runtime import open_runtime, shown_url
from bot.scheduler import RETENTION_JOB, RETENTION_LEASE_SECONDS
from config.settings import Settings
from handlers.clock import utc_now
from handlers.jobs.retention import sweep_retention
from handlers.language.privacy import mask_name
from handlers.people.forgetting import AlreadyForgotten, ForgetError, find_resident, forget, preview
from storage.backup import BackupError, back_up, backup_path, is_folder
from storage.db import transaction
from storage.erasure import delete_media_files
from storage.leases import JobLeases


def resident_command(settings: Settings, args: argparse.Namespace) -> int:
    """Forget a resident on request: show what would go, and with --yes unbind and erase them."""
    runtime = open_runtime(settings)
    try:
        with transaction(runtime.factory) as session:
            found = find_resident(session, args.openid, args.address, args.name)
            if isinstance(found, AlreadyForgotten):
                when = f" on {found.when:%Y-%m-%d %H:%M} UTC" if found.when else ""
                print(f"resident #{found.resident_id} was forgotten{when}: nothing left to erase")
                return 0
            who = f"resident #{found.id} ({mask_name(found.name)}, {found.address or 'no address'})"
            if not args.yes:
                print(f"{who}: would erase {preview(session, found).summary()}")
                print("nothing changed: run again with --yes to forget them", file=sys.stderr)
                return 1
            done = forget(runtime.services(session), found, args.by or _operator())
    except ForgetError as exc:
        print(f"cannot forget: {exc}", file=sys.stderr)
        return 2
    finally:
        runtime.close()
    delete_media_files(done.media, settings.delivery.media_dir)
    print(f"forgotten: {who} is now 已删除的居民; erased {done.summary()}")
    for number in done.open_tickets:
        print(f"ticket #{number} stays open for its worker, who was told the details are gone")
    print("backups made before now still hold their data (docs/privacy.md)")
    return 0


def _operator() -> str:
    """Who ran the command, for the audit trail: the login name, else a plain word."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "command line"


def retention_command(settings: Settings, _args: argparse.Namespace) -> int:
    """Run the retention sweep now and print what it erased."""
    runtime = open_runtime(settings)
    retention = settings.retention
    try:
        with JobLeases(runtime.factory).held(RETENTION_JOB, RETENTION_LEASE_SECONDS) as mine:
            if not mine:
                print(
                    "a scheduler is running the retention sweep right now: try again later", file=sys.stderr
                )
                return 1
            result = sweep_retention(runtime.factory, retention, settings.delivery.media_dir, runtime.clock())
    finally:
        runtime.close()
    print(
        f"retention: closed tickets {_days(retention.closed_ticket_days)}, "
        f"message text {_days(retention.inbound_text_days)}"
    )
    print(f"erased: {result.summary() or 'nothing was past its time'}")
    return 0


def _days(days: int) -> str:
    return f"{days} days" if days else "kept for ever"


def backup_command(settings: Settings, args: argparse.Namespace) -> int:
    """Back up the database while it runs (SQLite online backup, or pg_dump) into a new file.

    Without --community, every community's database of the deployment, a file each (the nightly unit's
    one command then misses none); with it, that community's alone.
    """
    # Imported here: only a backup of the whole deployment reads the register.
    from bot.commands.communities import every_community

    wanted = [settings] if args.community is not None else every_community(settings)
    if len(wanted) > 1 and not is_folder(args.destination):
        print(
            f"cannot back up: the deployment has {len(wanted)} communities, a file each: name a folder "
            f"(ending in /), or one community with --community",
            file=sys.stderr,
        )
        return 2
    for own in wanted:
        name = f"griddesk-{own.community_slug}" if own.mount else "griddesk"
        url = own.database_url
        try:
            target = back_up(url, backup_path(args.destination, url, utc_now(), name))
        except BackupError as exc:
            print(f"cannot back up: {exc}", file=sys.stderr)
            return 2
        print(f"backed up {shown_url(url)} to {target} ({target.stat().st_size // 1024} KiB)")
    return 0
