"""The read-only listings: `tickets` and `outbox` (JSON lines for scripts or short lines for people),
`worker list` and `staff list`. They import only what reading needs, and migrate nothing."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.commands.runtime import open_for_reading
from config.settings import Settings
from handlers.texts import CATEGORY_LABELS, KIND_LABELS, PUSH_STATUS_LABELS, STATUS_LABELS
from storage.db import transaction
from storage.listings import outbox_rows, ticket_rows

SHORT = 40


def listing_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print tickets or outbox rows, as JSON lines or a short table; the database is only read."""
    runtime = open_for_reading(settings)
    try:
        with runtime.engine.connect() as connection:
            rows = (
                ticket_rows(connection, args.limit)
                if args.command == "tickets"
                else outbox_rows(connection, args.limit)
            )
    finally:
        runtime.close()
    zone = ZoneInfo(settings.timezone)
    line = ticket_line if args.command == "tickets" else push_line
    for row in rows:
        print(json.dumps(row, ensure_ascii=False) if args.json else line(row, zone))
    return 0


def worker_list(settings: Settings, _args: argparse.Namespace) -> int:
    """Print the staff register, one JSON object a line."""
    from storage.queries import staff  # the ORM and the models: only this listing needs them

    runtime = open_for_reading(settings)
    try:
        with transaction(runtime.factory) as session:
            workers = staff(session)
    finally:
        runtime.close()
    for worker in workers:
        print(json.dumps(worker, ensure_ascii=False))
    return 0


def staff_list(settings: Settings, _args: argparse.Namespace) -> int:
    """Print the console accounts, one JSON object a line."""
    # Imported here: the accounts module loads werkzeug's password hashing, which the other listings skip.
    from bot.console.accounts import list_staff

    runtime = open_for_reading(settings)
    try:
        with transaction(runtime.factory) as session:
            rows = [asdict(row) for row in list_staff(session)]
    finally:
        runtime.close()
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    return 0


def ticket_line(row: dict[str, Any], zone: ZoneInfo) -> str:
    """One ticket for people: number, local time, category and kind, state, who has it, from whom, what."""
    category = CATEGORY_LABELS.get(row["category"], row["category"])
    if row["kind"]:
        category = f"{category}({KIND_LABELS.get(row['kind'], row['kind'])})"
    return "  ".join(
        [
            f"#{row['number']}",
            local_minute(row["created"], zone),
            category,
            STATUS_LABELS.get(row["status"], row["status"]),
            row["assignee"] or "未派单",
            row["resident"],
            _short(row["summary"]),
        ]
    )


def push_line(row: dict[str, Any], zone: ZoneInfo) -> str:
    """One outbox row for people: id, local time, state, to whom, by which channel, which ticket, what."""
    return "  ".join(
        [
            f"#{row['id']}",
            local_minute(row["created"], zone),
            PUSH_STATUS_LABELS.get(row["status"], row["status"]),
            f"{row['recipient_name']}({row['recipient']})",
            f"{row['channel']}/{row['kind']}",
            f"工单#{row['ticket']}" if row["ticket"] else "-",
            _short(row["text"]),
        ]
    )


def local_minute(moment: str, zone: ZoneInfo) -> str:
    """An ISO time as the settings' local month, day and minute, e.g. '11-28 09:05'."""
    return f"{datetime.fromisoformat(moment).astimezone(zone):%m-%d %H:%M}"


def _short(text: str | None) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= SHORT else flat[: SHORT - 1] + "…"
