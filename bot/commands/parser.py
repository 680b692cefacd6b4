"""The command line's grammar, built without importing any command (so `run.py --help` starts fast)."""

from __future__ import annotations

import argparse
from datetime import date
from importlib import import_module
from pathlib import Path
from typing import Any

from config.settings import PROJECT_ROOT, Settings
from handlers.texts import ROLE_LABELS

QR_CODE_DIR = PROJECT_ROOT / "var" / "qrcodes"
ROLES = tuple(ROLE_LABELS)
# handlers.jobs.reports.KINDS, written out: importing handlers.jobs.reports loads openpyxl and the ORM
# (tests/unit/test_command_parser.py checks the two agree).
PERIODS = ("day", "week", "month")
SAY_DESCRIPTION = """\
Send one signed WeChat message to a running GridDesk as a resident, and show the reply and the pushes
it caused. Where it sends: --url if given; else the address a running `run.py serve` wrote to its
address file (setting server.address_file, default var/server.json, environment
GRIDDESK_SERVER_ADDRESS_FILE); else http://<server.host>:<server.port>/wechat from the settings
(GRIDDESK_SERVER_HOST, GRIDDESK_SERVER_PORT)."""


class Lazy:
    """A command function named by module and name: the module is imported only when the command runs."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.__name__ = name

    def __call__(self, settings: Settings, args: argparse.Namespace) -> int:
        """Import the command's module and run the command."""
        command: Any = getattr(import_module(f"bot.commands.{self.module}"), self.__name__)
        return int(command(settings, args))


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="run.py", description="GridDesk 网格服务台")
    parser.add_argument(
        "--community",
        metavar="SLUG",
        help="run the command for this community of the deployment (default: the first, main)",
    )
    commands = parser.add_subparsers(dest="command")
    _add_server_commands(commands)
    _add_routing_commands(commands)
    _add_staff_commands(commands)
    _add_register_commands(commands)
    _add_privacy_commands(commands)
    return parser


def _add_server_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """serve, scheduler, migrate, say."""
    serve_parser = commands.add_parser("serve", help="run the webhook and scheduler (the default)")
    serve_parser.add_argument("--host")
    serve_parser.add_argument("--port", type=int)
    serve_parser.add_argument(
        "--workers",
        type=_at_least_one,
        metavar="N",
        help="production: serve with gunicorn in N processes, without the scheduler (run `scheduler` too)",
    )
    serve_parser.add_argument(
        "--threads", type=_at_least_one, default=4, metavar="T", help="with --workers: threads per worker (4)"
    )
    serve_parser.add_argument(
        "--freeze-clock",
        action="store_true",
        help="sandbox only: the clock stands still at start, so no deadline passes and nothing re-pages "
        "(demos, tests)",
    )
    serve_parser.set_defaults(func=Lazy("serve", "serve"))

    scheduler_parser = commands.add_parser(
        "scheduler", help="run the scheduler alone (outbox, sweeps); pairs with serve --workers"
    )
    scheduler_parser.set_defaults(func=Lazy("serve", "scheduler_command"))

    migrate_parser = commands.add_parser(
        "migrate", help="bring the database schema up to date (and load the demo in sandbox mode), then exit"
    )
    migrate_parser.set_defaults(func=Lazy("runtime", "migrate_command"))

    say_parser = commands.add_parser(
        "say", help="send a signed WeChat message as a resident", description=SAY_DESCRIPTION
    )
    say_parser.add_argument("--as", dest="openid", required=True, help="the resident's openid")
    say_parser.add_argument("text", nargs="*", help="what the resident says")
    say_parser.add_argument("--voice", action="store_true", help="send as voice; the text is the transcript")
    say_parser.add_argument("--image", action="store_true", help="send a photo")
    say_parser.add_argument("--click", metavar="KEY", help="tap a menu item, e.g. MENU_SOS")
    say_parser.add_argument("--event", choices=["subscribe", "unsubscribe"])
    say_parser.add_argument("--location", metavar="LAT,LNG[,LABEL]")
    say_parser.add_argument(
        "--url",
        help="the webhook, http://HOST:PORT[/wechat] (default: the running server's address file)",
    )
    say_parser.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to wait for the pushes to be sent before showing them (10)",
    )
    say_parser.set_defaults(func=Lazy("say", "say_command"))


def _add_routing_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """classify, routing."""
    classify_parser = commands.add_parser("classify", help="classify texts (arguments or stdin lines)")
    classify_parser.add_argument("text", nargs="*")
    classify_parser.set_defaults(func=Lazy("routing", "classify_command"))

    routing_parser = commands.add_parser("routing", help="routing quality: check, train, misses")
    routing_actions = routing_parser.add_subparsers(dest="action", required=True)
    check = routing_actions.add_parser("check", help="figures per category on labelled corpora (TSV)")
    check.add_argument("corpus", type=Path, nargs="*", help="default: tests/corpus/routing-*.tsv")
    training = routing_actions.add_parser("train", help="train the emergency model on the corpus")
    training.add_argument(
        "corpus", type=Path, nargs="*", help="default: tests/corpus/routing-development.tsv"
    )
    training.add_argument("--out", type=Path, help="default: the settings' paths.emergency_model")
    training.add_argument(
        "--budget", type=float, default=0.005, help="false alarms the model may add, share of others (0.005)"
    )
    training.add_argument(
        "--placed-threshold",
        type=float,
        default=0.9,
        help="the least it calls at where the rules placed a request firmly (0.9)",
    )
    misses = routing_actions.add_parser("misses", help="texts staff recategorised, as corpus TSV lines")
    misses.add_argument("--since", type=_calendar_date, help="only corrections from this day on, YYYY-MM-DD")
    routing_parser.set_defaults(func=Lazy("routing", "routing_command"))


def _add_staff_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """community, worker, staff."""
    community_parser = commands.add_parser(
        "community", help="add or list communities; load grids, buildings and staff from a TOML file"
    )
    community_actions = community_parser.add_subparsers(dest="action", required=True)
    load_parser = community_actions.add_parser("load", help="create or update what the file describes")
    load_parser.add_argument("file", help="same layout as config/demo.toml")
    load_parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    community_parser.set_defaults(func=Lazy("staff", "community_command"))
    add = community_actions.add_parser("add", help="serve one more community, on a database of its own")
    add.add_argument("slug", help="2-32 lower-case letters and digits: /wechat/<slug>, /c/<slug>/console")
    add.add_argument("--name", required=True, help="the community's name, as residents read it")
    add.add_argument("--database", metavar="URL", help="default: beside the first community's")
    add.add_argument("--config", type=Path, metavar="FILE", help="its own settings (docs/tenancy.md)")
    add.set_defaults(func=Lazy("communities", "community_add"))
    listing = community_actions.add_parser("list", help="the deployment's communities")
    listing.set_defaults(func=Lazy("communities", "community_list"))

    worker_parser = commands.add_parser("worker", help="invite grid workers, list staff")
    worker_actions = worker_parser.add_subparsers(dest="action", required=True)
    invite = worker_actions.add_parser("invite", help="print a one-time code that binds a worker's WeChat")
    invite.add_argument("--name", required=True)
    invite.add_argument("--grid", action="append", default=[], help="grid code; repeat for a leader's grids")
    invite.add_argument("--role", choices=ROLES, default="worker")
    invite.add_argument("--backup", help="the AB岗 backup's name")
    invite.add_argument("--phone")
    invite.add_argument(
        "--new-wechat", action="store_true", help="move a bound worker to a new WeChat; grids stay theirs"
    )
    invite.add_argument(
        "--replace",
        action="store_true",
        help="take over a --grid that already has a worker (a leader, for --role leader); they are told",
    )
    leaving = worker_actions.add_parser(
        "leave", help="a worker left: unbind their WeChat, pass on their grids, backups and open tickets"
    )
    leaving.add_argument("--name", required=True)
    leaving.add_argument("--role", choices=ROLES, help="only needed when two serving workers share the name")
    leaving.add_argument("--to", help="the successor, of the same role (default: up each ticket's ladder)")
    worker_actions.add_parser("list", help="the staff register, one JSON object a line").set_defaults(
        func=Lazy("listings", "worker_list")
    )
    worker_parser.set_defaults(func=Lazy("staff", "worker_command"))

    staff_parser = commands.add_parser("staff", help="staff console accounts: add, list, password, disable")
    staff_actions = staff_parser.add_subparsers(dest="action", required=True)
    # No abbreviations: "--password x" must fail, not pass for --password-stdin.
    add_account = staff_actions.add_parser(
        "add",
        help="a console account for a worker (the existing one of that name and role, else a new one)",
        allow_abbrev=False,
    )
    add_account.add_argument("--name", required=True)
    add_account.add_argument("--login", required=True)
    add_account.add_argument("--role", choices=ROLES, default="worker")
    add_account.add_argument("--grid", action="append", default=[], help="grid code (new worker or leader)")
    add_account.add_argument("--phone")
    add_account.add_argument(
        "--replace", action="store_true", help="take a grid that has a worker (leader) now; they are told"
    )
    add_account.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    staff_actions.add_parser("list", help="console accounts, one JSON object a line").set_defaults(
        func=Lazy("listings", "staff_list")
    )
    password_parser = staff_actions.add_parser(
        "password", help="set a new password (signs out old sessions)", allow_abbrev=False
    )
    password_parser.add_argument("login")
    password_parser.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    for action, words in (
        ("disable", "stop an account signing in (ends its sessions)"),
        ("enable", "let a disabled account sign in again"),
    ):
        staff_actions.add_parser(action, help=words).add_argument("login")
    staff_parser.set_defaults(func=Lazy("staff", "staff_command"))


def _add_register_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """residents, wechat, report, tickets, outbox."""
    residents_parser = commands.add_parser("residents", help="import or export the household register (台账)")
    residents_actions = residents_parser.add_subparsers(dest="action", required=True)
    importing = residents_actions.add_parser("import", help="create or update residents from CSV or XLSX")
    importing.add_argument("file", type=Path, help="CSV (UTF-8 or GBK) or XLSX; see docs/register.md")
    exporting = residents_actions.add_parser("export", help="write the register as CSV (stdout) or XLSX")
    exporting.add_argument("file", type=Path, nargs="?", help="CSV, or XLSX when it ends in .xlsx")
    family = residents_actions.add_parser(
        "family-code", help="a one-time code a family member sends to follow an elder (docs/checkins.md)"
    )
    family.add_argument("--address", help="the elder's address, e.g. 3号楼2单元301")
    family.add_argument("--name", help="the elder's name, when several live at the address")
    family.add_argument("--openid", help="the elder's openid, instead of --address")
    family.add_argument("--relation", help="who the code is for, e.g. 女儿 (the elder and worker see it)")
    family.add_argument("--hours", type=int, default=24, help="how long the code is valid (default 24)")
    residents_parser.set_defaults(func=Lazy("residents", "residents_command"))

    wechat_parser = commands.add_parser(
        "wechat", help="set up the live Official Account: menu, QR codes, status"
    )
    wechat_actions = wechat_parser.add_subparsers(dest="action", required=True)
    menu = wechat_actions.add_parser("menu", help="publish the custom menu (config/menu.toml)")
    menu.add_argument("--dry-run", action="store_true", help="check and print the menu; send nothing")
    menu.set_defaults(func=Lazy("wechat", "menu_command"))
    qrcodes = wechat_actions.add_parser("qrcodes", help="a permanent QR code per building, as printable PNGs")
    qrcodes.add_argument("--out", type=Path, default=QR_CODE_DIR, help="folder for the PNGs (var/qrcodes)")
    qrcodes.add_argument("--building", action="append", default=[], help="only this building; repeatable")
    qrcodes.set_defaults(func=Lazy("wechat", "qrcodes_command"))
    family_qr = wechat_actions.add_parser(
        "family-qr", help="a one-time family code for an elder as a QR code a relative scans (PNG)"
    )
    family_qr.add_argument("--address", help="the elder's address, e.g. 3号楼2单元301")
    family_qr.add_argument("--name", help="the elder's name, when several live at the address")
    family_qr.add_argument("--openid", help="the elder's openid, instead of --address")
    family_qr.add_argument("--relation", help="who the code is for, e.g. 女儿")
    family_qr.add_argument("--hours", type=int, default=24, help="how long it is valid (default 24)")
    family_qr.add_argument("--out", type=Path, required=True, help="the PNG to write")
    family_qr.set_defaults(func=Lazy("wechat", "family_qr_command"))
    status = wechat_actions.add_parser(
        "status", help="what the Official Account may send (客服消息, templates) and residents' windows"
    )
    status.set_defaults(func=Lazy("wechat", "status_command"))

    report_parser = commands.add_parser("report", help="a day's, week's or month's report (日报/周报/月报)")
    report_parser.add_argument("--period", choices=PERIODS, default="day")
    report_parser.add_argument(
        "--date", type=_report_date, help="any day in the period, YYYY-MM-DD (default: today, local)"
    )
    report_parser.add_argument("--grid", metavar="CODE", help="one grid (default: the whole community)")
    report_parser.add_argument(
        "--xlsx", type=Path, metavar="FILE", help="write Excel instead (for the community: every grid too)"
    )
    report_parser.set_defaults(func=Lazy("report", "report_command"))

    for name in ("tickets", "outbox"):
        listing = commands.add_parser(name, help=f"list {name}, newest first (local time)")
        listing.add_argument("--json", action="store_true", help="one JSON object a line (times in UTC)")
        listing.add_argument("--limit", type=int, default=200)
        listing.set_defaults(func=Lazy("listings", "listing_command"))


def _add_privacy_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """resident forget, retention run, backup: personal data's life cycle (docs/privacy.md)."""
    resident_parser = commands.add_parser("resident", help="a resident's personal data: forget on request")
    resident_actions = resident_parser.add_subparsers(dest="action", required=True)
    forgetting = resident_actions.add_parser(
        "forget", help="unbind a resident and erase their personal data; tickets stay, the person goes"
    )
    forgetting.add_argument("openid", nargs="?", help="their openid (or a register entry's register:...)")
    forgetting.add_argument("--address", help="or where they live, e.g. 3号楼2单元301")
    forgetting.add_argument("--name", help="with --address: their name, when several live there")
    forgetting.add_argument("--yes", action="store_true", help="do it (without: show what would go)")
    forgetting.add_argument("--by", help="who asks, for the audit trail (default: your login name)")
    resident_parser.set_defaults(func=Lazy("privacy", "resident_command"))

    retention_parser = commands.add_parser("retention", help="erase personal data past its retention now")
    retention_parser.add_subparsers(dest="action", required=True).add_parser(
        "run", help="what the scheduler does every hour ([retention] in config/griddesk.toml)"
    )
    retention_parser.set_defaults(func=Lazy("privacy", "retention_command"))

    backup_parser = commands.add_parser("backup", help="back up the database while GridDesk runs")
    backup_parser.add_argument(
        "destination",
        help="a new file, or a folder (made if it ends in /) for griddesk-<date>-<time>.db/.dump "
        "and, without --community, griddesk-<slug>-<date>-<time> for each other community",
    )
    backup_parser.set_defaults(func=Lazy("privacy", "backup_command"))


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number, 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _calendar_date(text: str) -> date:
    """An argparse type: a date written YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _report_date(text: str) -> date:
    """An argparse type: a date written YYYY-MM-DD that reports cover."""
    day = _calendar_date(text)
    # Imported here: only `report --date` pays for loading the reports package.
    from handlers.jobs.reports import FIRST_DAY, LAST_DAY

    if not FIRST_DAY <= day <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"{text} is out of range: reports cover {FIRST_DAY} to {LAST_DAY}")
    return day
