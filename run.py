"""GridDesk's composition root and command line: `uv run run.py [serve|scheduler|say|tickets|...]`."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import sys
import threading
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from wechatpy.exceptions import WeChatClientException

from bot.app import create_app, spool_replayer, utc_now
from bot.channels import build_messenger
from bot.console.accounts import AccountError, add_staff, list_staff, set_active, set_password
from bot.intents import IntentClassifier, IntentRulesError, classifier_for, load_classifier
from bot.menu import MenuError, load_menu, publish_menu
from bot.privacy import mask_name
from bot.qrcodes import create_building_codes
from bot.routing_corpus import CorpusError, evaluate, read_corpus, recategorised_lines, train_emergency_model
from bot.say import say, utterance
from bot.scheduler import RETENTION_JOB, RETENTION_LEASE_SECONDS, build_scheduler
from bot.spool import Spool
from bot.wechat_api import OfficialAccountClient, official_account_client
from config.settings import PROJECT_ROOT, Settings, SettingsError, load_settings
from handlers.claims import claim_entries_after_import
from handlers.context import Services
from handlers.departures import DepartureError, leave, serving_worker, take_over
from handlers.forgetting import AlreadyForgotten, ForgetError, find_resident, forget, preview
from handlers.invites import ROLES, InviteError, create_invite, grid_holders
from handlers.reports import (
    FIRST_DAY,
    KINDS,
    LAST_DAY,
    build_report,
    grid_scopes,
    local_today,
    period_for,
    report_detail,
    report_xlsx,
    scope_for_community,
    scope_for_grid,
)
from handlers.retention import sweep_retention
from storage.backup import BackupError, back_up, backup_path
from storage.community import CommunityFileError, load_community, minutes_after_midnight
from storage.db import make_engine, make_session_factory, startup_lock, transaction, upgrade
from storage.demo import seed_community
from storage.erasure import delete_media_files
from storage.leases import JobLeases
from storage.models import Building, Grid, Resident, Worker
from storage.queries import outbox_rows, staff, ticket_rows
from storage.register import ImportLimits, RegisterFileError, export_register, import_register

log = logging.getLogger("griddesk")
LIVE_ONLY = (
    "this needs a live Official Account: set GRIDDESK_WECHAT_APPID and GRIDDESK_WECHAT_SECRET "
    "(README.md, 'Setting up the Official Account')"
)
QR_CODE_DIR = PROJECT_ROOT / "var" / "qrcodes"


@dataclass(frozen=True)
class Runtime:
    """The long-lived parts, built once per process."""

    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]


def open_runtime(settings: Settings, migrate: bool = True) -> Runtime:
    """Connect to the database, upgrade its schema, and load the demo community in sandbox mode."""
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    if migrate:
        prepare_database(settings, engine, factory)
    return Runtime(settings, engine, factory)


def prepare_database(settings: Settings, engine: Engine, factory: sessionmaker[Session]) -> None:
    """Migrate, and seed the demo in sandbox mode; safe when `serve` and `scheduler` start together."""
    with startup_lock(engine):
        upgrade(engine)
        if settings.sandbox:
            with transaction(factory) as session:
                if seed_community(session, settings.demo_path, utc_now()):
                    log.info("demo community loaded from %s", settings.demo_path)


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the webhook: under gunicorn with --workers, else the one-process sandbox with the scheduler."""
    host, port = args.host or settings.host, args.port or settings.port
    if args.workers is not None:
        return serve_workers(settings, host, port, args.workers, args.threads)
    check_spool(settings)
    runtime = open_runtime(settings)
    classifier = classifier_for(settings)
    app = create_app(settings, runtime.factory, classifier)
    messenger = build_messenger(settings, runtime.factory, utc_now)
    scheduler = build_scheduler(settings, runtime.factory, messenger, utc_now, classifier)
    scheduler.start()
    replayer = spool_replayer(app)
    replayer.start(settings.spool.replay_interval_seconds)
    print(banner(settings, host, port), flush=True)
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        replayer.stop()
        scheduler.shutdown(wait=False)
        runtime.engine.dispose()
    return 0


def serve_workers(settings: Settings, host: str, port: int, workers: int, threads: int) -> int:
    """Run the webhook under gunicorn in `workers` processes; `run.py scheduler` runs the scheduler."""
    # Imported here: gunicorn runs on Unix only, and the one-process sandbox does not need it.
    from bot.wsgi import WebServer, gunicorn_options

    check_spool(settings)
    # Migrate and seed once, in the master; its engine is gone before any worker forks.
    open_runtime(settings).engine.dispose()
    print(banner(settings, host, port, workers=workers), flush=True)
    WebServer(lambda: web_app(settings), gunicorn_options(host, port, workers, threads)).run()
    return 0


def web_app(settings: Settings) -> Flask:
    """The webhook on an engine of its own: what each gunicorn worker builds after the fork.

    Each worker also replays the spool (the workers take turns through a lock file).
    """
    runtime = open_runtime(settings, migrate=False)
    app = create_app(settings, runtime.factory, classifier_for(settings))
    spool_replayer(app).start(settings.spool.replay_interval_seconds)
    return app


def check_spool(settings: Settings) -> None:
    """Stop start-up with one line when the spool folder cannot be written."""
    try:
        Spool(settings.spool.dir, settings.database_url).check()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(f"spool.dir: cannot write to {settings.spool.dir}: {reason}") from exc


def scheduler_command(settings: Settings, _args: argparse.Namespace) -> int:
    """Run the scheduler alone until SIGTERM or SIGINT; any number of these may run at once."""
    runtime = open_runtime(settings)
    classifier = classifier_for(settings)
    messenger = build_messenger(settings, runtime.factory, utc_now)
    scheduler = build_scheduler(settings, runtime.factory, messenger, utc_now, classifier)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    scheduler.start()
    print(scheduler_banner(settings), flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        # Let running jobs finish, so they hand their leases back instead of leaving them to run out.
        scheduler.shutdown(wait=True)
        runtime.engine.dispose()
    print("GridDesk scheduler stopped", flush=True)
    return 0


def scheduler_banner(settings: Settings) -> str:
    """What the scheduler process does, and where sandbox pushes show up."""
    pushes = "print here (sandbox)" if settings.sandbox else "go to WeChat"
    return "\n".join(
        [
            "GridDesk scheduler: outbox dispatch, deadline and check-in sweeps, visit digests, reports",
            f"  pushes:   {pushes}",
            f"  database: {shown_url(settings.database_url)}",
        ]
    )


def shown_url(url: str) -> str:
    """A database URL fit for a terminal or a log: the password masked."""
    return make_url(url).render_as_string(hide_password=True)


def banner(settings: Settings, host: str, port: int, workers: int | None = None) -> str:
    """What the person who started GridDesk needs to know to try it."""
    where = "pushes print here" if workers is None else "pushes print in `run.py scheduler`"
    mode = f"SANDBOX (no WeChat app secret: {where})" if settings.sandbox else "LIVE Official Account"
    safe = "safe mode (AES) on" if settings.wechat.safe_mode else "plaintext mode"
    lines = [
        "GridDesk 网格服务台",
        f"  mode:     {mode}, {safe}",
        f"  webhook:  http://{host}:{port}/wechat",
        f"  database: {shown_url(settings.database_url)}",
    ]
    if workers is not None:
        lines.append(f"  server:   gunicorn, {workers} worker processes; start `uv run run.py scheduler` too")
    if settings.sandbox:
        lines += [
            "  try, in a second terminal:",
            '    uv run run.py say --as demo-resident-zhang "卫生间水管漏水了"',
            '    uv run run.py say --as demo-resident-zhang "我的工单"',
            "  demo openids: see README.md (residents demo-resident-zhang / -liu / -sun)",
        ]
    return "\n".join(lines)


def say_command(settings: Settings, args: argparse.Namespace) -> int:
    """Send one message as a resident to the running server."""
    try:
        said = utterance(
            " ".join(args.text) or None,
            voice=args.voice,
            image=args.image,
            click=args.click,
            event=args.event,
            location=args.location,
        )
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    runtime = open_runtime(settings, migrate=False)
    url = args.url or f"http://{settings.host}:{settings.port}/wechat"
    return say(settings, runtime.factory, args.openid, said, url, sys.stdout)


def classify_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print the classification of each text as one JSON object a line."""
    classifier: IntentClassifier = classifier_for(settings)
    texts = args.text or (line.rstrip("\n") for line in sys.stdin)
    for text in texts:
        if text.strip():
            print(json.dumps(classifier.classify(text).as_dict(), ensure_ascii=False), flush=True)
    return 0


CORPUS_DIR = PROJECT_ROOT / "tests" / "corpus"
DEVELOPMENT_CORPUS = CORPUS_DIR / "routing-development.tsv"
HELDOUT_CORPUS = CORPUS_DIR / "routing-heldout.tsv"


def routing_command(settings: Settings, args: argparse.Namespace) -> int:
    """Routing quality: figures on labelled corpora, train the emergency model, list staff's corrections."""
    if args.action == "check":
        classifier = classifier_for(settings)
        for path in args.corpus or [DEVELOPMENT_CORPUS, HELDOUT_CORPUS]:
            evaluation = evaluate(classifier, read_corpus(path), path.name)
            print(evaluation.summary())
            print("\n".join(evaluation.table()))
        return 0
    if args.action == "train":
        rules = load_classifier(settings.intents_path)
        examples = [example for path in args.corpus or [DEVELOPMENT_CORPUS] for example in read_corpus(path)]
        training = train_emergency_model(rules, examples, args.budget)
        print("\n".join(training.lines))
        out = args.out or settings.emergency_model_path or PROJECT_ROOT / "config" / "emergency-model.json"
        training.model.save(out)
        print(
            f"wrote {shown_path(out)} ({out.stat().st_size // 1024} KiB, trained on {len(examples)} messages)"
        )
        return 0
    runtime = open_runtime(settings)
    try:
        with transaction(runtime.factory) as session:
            for line in recategorised_lines(session, args.since, ZoneInfo(settings.timezone)):
                print(line)
    finally:
        runtime.engine.dispose()  # called in-process too (tests, scripts): no connection left open
    return 0


def shown_path(path: Path) -> str:
    """A path relative to the project when it is inside it."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def listing_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print tickets or outbox rows, as JSON lines or a short table."""
    runtime = open_runtime(settings)
    with transaction(runtime.factory) as session:
        rows = (
            ticket_rows(session, args.limit)
            if args.command == "tickets"
            else outbox_rows(session, args.limit)
        )
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print("  ".join(str(value).replace("\n", " ")[:40] for value in row.values()))
    return 0


def worker_command(settings: Settings, args: argparse.Namespace) -> int:
    """Invite a worker (prints a one-time binding code), record one leaving, or list the staff register."""
    runtime = open_runtime(settings)
    if args.action == "leave":
        return worker_leave(settings, runtime, args)
    with transaction(runtime.factory) as session:
        if args.action == "list":
            for worker in staff(session):
                print(json.dumps(worker, ensure_ascii=False))
            return 0
        try:
            invite = create_invite(
                session,
                utc_now(),
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
        print(f"Binding code for {invite.name} ({invite.role}): {invite.code}")
        print(
            f'Ask them to send "绑定 {invite.code}" to the Official Account within '
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
    classifier = classifier_for(settings)
    try:
        with transaction(runtime.factory) as session:
            worker = serving_worker(session, args.name, args.role)
            successor = serving_worker(session, args.to, worker.role) if args.to else None
            departure = leave(Services(session, settings, classifier, utc_now()), worker, successor)
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
    """Console accounts: add one (for an existing or new worker), list them, or change a password."""
    runtime = open_runtime(settings)
    try:
        if args.action == "list":
            with transaction(runtime.factory) as session:
                for row in list_staff(session):
                    print(json.dumps(asdict(row), ensure_ascii=False))
            return 0
        if args.action in ("disable", "enable"):
            with transaction(runtime.factory) as session:
                set_active(session, utc_now(), args.login, args.action == "enable")
            ended = "; its sessions and unused push links have ended" if args.action == "disable" else ""
            print(f"console account {args.login!r} {args.action}d{ended}")
            return 0
        password = read_password(args.password_stdin)
        with transaction(runtime.factory) as session:
            if args.action == "add":
                account = add_staff(
                    session,
                    utc_now(),
                    name=args.name,
                    login=args.login,
                    role=args.role,
                    password=password,
                    grid_codes=tuple(args.grid),
                    phone=args.phone,
                    take_over=_telling_take_over(settings, session) if args.replace else None,
                )
                print(f"console account {account.login!r} created ({account.worker.role}), at /console")
            else:
                set_password(session, utc_now(), args.login, password)
                print(f"password of {args.login!r} changed; its sessions and unused push links have ended")
    except AccountError as exc:
        print(f"cannot {args.action}: {exc}", file=sys.stderr)
        return 2
    finally:
        runtime.engine.dispose()
    return 0


def _telling_take_over(settings: Settings, session: Session) -> Callable[[Grid, Worker, Worker], object]:
    """`staff add --replace`: unsigned tickets follow the grid, and the people concerned are told."""
    services = Services(session, settings, classifier_for(settings), utc_now())
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
            changes = load_community(session, Path(args.file), utc_now())
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
        runtime.engine.dispose()
    for change in changes or ["no changes"]:
        print(change)
    if args.dry_run:
        print("dry run: nothing was written")
    return 0


def residents_command(settings: Settings, args: argparse.Namespace) -> int:
    """Import the household register (台账) from CSV or XLSX, or export it."""
    runtime = open_runtime(settings)
    try:
        return _residents(settings, args, runtime)
    finally:
        runtime.engine.dispose()  # called in-process too (tests, scripts): no connection left open


def _residents(settings: Settings, args: argparse.Namespace, runtime: Runtime) -> int:
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
                now=utc_now(),
                limits=ImportLimits(**asdict(settings.register)),
            )
        except RegisterFileError as exc:
            print(f"cannot import {args.file}: {exc}", file=sys.stderr)
            return 2
        claims = claim_entries_after_import(Services(session, settings, classifier_for(settings), utc_now()))
        waiting = [f"#{claim.id} {session.get_one(Resident, claim.entry_id).address}" for claim in claims]
    # What was made of the header first: it explains the rows' problems that follow.
    for line in [*report.column_notes, *map(str, report.bad), *report.notes]:
        print(line)
    print(report.summary)
    if waiting:
        # Someone bound these flats on WeChat before the register listed them: their worker confirms.
        print(f"bindings waiting for the grid worker's 确认绑定: {', '.join(waiting)}")
    return 0


def report_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print a day's, week's or month's report; --xlsx writes it (the community's with every grid's)."""
    runtime = open_runtime(settings)
    now = utc_now()
    period = period_for(args.period, args.date or local_today(now, settings.timezone))
    with transaction(runtime.factory) as session:
        try:
            scope = scope_for_grid(session, args.grid) if args.grid else None
        except LookupError:
            print(f"unknown grid: {args.grid}", file=sys.stderr)
            return 2
        scope = scope or scope_for_community(session, settings)
        scopes = [scope, *(grid_scopes(session) if args.xlsx and not args.grid else [])]
        reports = [build_report(session, settings, each, period, now) for each in scopes]
    if args.xlsx is None:
        print(report_detail(reports[0]))
        return 0
    args.xlsx.write_bytes(report_xlsx(reports))
    print(f"wrote {len(reports)} reports ({period.label}) to {args.xlsx}", file=sys.stderr)
    return 0


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
            services = Services(session, settings, classifier_for(settings), utc_now())
            done = forget(services, found, args.by or _operator())
    except ForgetError as exc:
        print(f"cannot forget: {exc}", file=sys.stderr)
        return 2
    finally:
        runtime.engine.dispose()
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
            result = sweep_retention(runtime.factory, settings, utc_now())
    finally:
        runtime.engine.dispose()
    print(
        f"retention: closed tickets {_days(retention.closed_ticket_days)}, "
        f"message text {_days(retention.inbound_text_days)}"
    )
    print(f"erased: {result.summary() or 'nothing was past its time'}")
    return 0


def _days(days: int) -> str:
    return f"{days} days" if days else "kept for ever"


def backup_command(settings: Settings, args: argparse.Namespace) -> int:
    """Back up the database while it runs (SQLite online backup, or pg_dump) into a new file."""
    try:
        target = back_up(
            settings.database_url, backup_path(args.destination, settings.database_url, utc_now())
        )
    except BackupError as exc:
        print(f"cannot back up: {exc}", file=sys.stderr)
        return 2
    print(f"backed up {shown_url(settings.database_url)} to {target} ({target.stat().st_size // 1024} KiB)")
    return 0


def _calendar_date(text: str) -> date:
    """An argparse type: a date written YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _report_date(text: str) -> date:
    """An argparse type: a date written YYYY-MM-DD that reports cover."""
    day = _calendar_date(text)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"{text} is out of range: reports cover {FIRST_DAY} to {LAST_DAY}")
    return day


def menu_command(settings: Settings, args: argparse.Namespace) -> int:
    """Publish config/menu.toml as the Official Account's custom menu (--dry-run: print it, send nothing)."""
    try:
        menu = load_menu(settings.menu_path)
    except MenuError as exc:
        print(f"cannot publish the menu: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(json.dumps(menu, ensure_ascii=False, indent=2))
        return 0
    if settings.sandbox:
        print(f"cannot publish the menu: {LIVE_ONLY}", file=sys.stderr)
        return 2

    def publish(client: OfficialAccountClient, _factory: sessionmaker[Session]) -> int:
        publish_menu(client, menu)
        print(f"menu published: {' | '.join(button['name'] for button in menu['button'])}")
        print("WeChat shows a new menu to followers within a few minutes.")
        return 0

    return _on_wechat(settings, publish)


def qrcodes_command(settings: Settings, args: argparse.Namespace) -> int:
    """Create each building's permanent QR code on WeChat and write printable PNGs."""
    if settings.sandbox:
        print(f"cannot create QR codes: {LIVE_ONLY}", file=sys.stderr)
        return 2

    def write_codes(client: OfficialAccountClient, factory: sessionmaker[Session]) -> int:
        with transaction(factory) as session:
            names = list(session.scalars(select(Building.name).order_by(Building.id)))
        unknown = [name for name in args.building if name not in names]
        if unknown or not names:
            print(f"unknown building: {', '.join(unknown)}" if unknown else _NO_BUILDINGS, file=sys.stderr)
            return 2
        for code in create_building_codes(client, args.building or names, args.out):
            print(f"{code.building}  {code.path}  {code.url}")
        return 0

    return _on_wechat(settings, write_codes)


_NO_BUILDINGS = "no buildings in the database yet: load the community's grids and buildings first"


def _on_wechat(
    settings: Settings, work: Callable[[OfficialAccountClient, sessionmaker[Session]], int]
) -> int:
    """Run work with the Official Account client (its token shared with the server); WeChat errors exit 1."""
    runtime = open_runtime(settings)
    try:
        return work(official_account_client(settings, runtime.factory), runtime.factory)
    except WeChatClientException as exc:
        print(f"WeChat refused: {_wechat_error(exc)}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"cannot reach WeChat at {settings.delivery.api_base_url}: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.engine.dispose()


def _wechat_error(exc: WeChatClientException) -> str:
    """errcode and errmsg, or the HTTP status when WeChat did not answer JSON."""
    if exc.errcode is None and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return f"errcode {exc.errcode}, errmsg {exc.errmsg}"


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="run.py", description="GridDesk 网格服务台")
    commands = parser.add_subparsers(dest="command")
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
    serve_parser.set_defaults(func=serve)

    scheduler_parser = commands.add_parser(
        "scheduler", help="run the scheduler alone (outbox, sweeps); pairs with serve --workers"
    )
    scheduler_parser.set_defaults(func=scheduler_command)

    say_parser = commands.add_parser("say", help="send a signed WeChat message as a resident")
    say_parser.add_argument("--as", dest="openid", required=True, help="the resident's openid")
    say_parser.add_argument("text", nargs="*", help="what the resident says")
    say_parser.add_argument("--voice", action="store_true", help="send as voice; the text is the transcript")
    say_parser.add_argument("--image", action="store_true", help="send a photo")
    say_parser.add_argument("--click", metavar="KEY", help="tap a menu item, e.g. MENU_SOS")
    say_parser.add_argument("--event", choices=["subscribe", "unsubscribe"])
    say_parser.add_argument("--location", metavar="LAT,LNG[,LABEL]")
    say_parser.add_argument("--url", help="the webhook URL (default: from settings)")
    say_parser.set_defaults(func=say_command)

    classify_parser = commands.add_parser("classify", help="classify texts (arguments or stdin lines)")
    classify_parser.add_argument("text", nargs="*")
    classify_parser.set_defaults(func=classify_command)

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
        "--budget", type=float, default=0.01, help="false alarms the model may add, share of others (0.01)"
    )
    misses = routing_actions.add_parser("misses", help="texts staff recategorised, as corpus TSV lines")
    misses.add_argument("--since", type=_calendar_date, help="only corrections from this day on, YYYY-MM-DD")
    routing_parser.set_defaults(func=routing_command)

    community_parser = commands.add_parser(
        "community", help="load grids, buildings and staff from a TOML file"
    )
    community_actions = community_parser.add_subparsers(dest="action", required=True)
    load_parser = community_actions.add_parser("load", help="create or update what the file describes")
    load_parser.add_argument("file", help="same layout as config/demo.toml")
    load_parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    community_parser.set_defaults(func=community_command)

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
    worker_actions.add_parser("list", help="the staff register, one JSON object a line")
    worker_parser.set_defaults(func=worker_command)

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
    staff_actions.add_parser("list", help="console accounts, one JSON object a line")
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
    staff_parser.set_defaults(func=staff_command)

    residents_parser = commands.add_parser("residents", help="import or export the household register (台账)")
    residents_actions = residents_parser.add_subparsers(dest="action", required=True)
    importing = residents_actions.add_parser("import", help="create or update residents from CSV or XLSX")
    importing.add_argument("file", type=Path, help="CSV (UTF-8 or GBK) or XLSX; see docs/register.md")
    exporting = residents_actions.add_parser("export", help="write the register as CSV (stdout) or XLSX")
    exporting.add_argument("file", type=Path, nargs="?", help="CSV, or XLSX when it ends in .xlsx")
    residents_parser.set_defaults(func=residents_command)

    wechat_parser = commands.add_parser("wechat", help="set up the live Official Account: menu, QR codes")
    wechat_actions = wechat_parser.add_subparsers(dest="action", required=True)
    menu = wechat_actions.add_parser("menu", help="publish the custom menu (config/menu.toml)")
    menu.add_argument("--dry-run", action="store_true", help="check and print the menu; send nothing")
    menu.set_defaults(func=menu_command)
    qrcodes = wechat_actions.add_parser("qrcodes", help="a permanent QR code per building, as printable PNGs")
    qrcodes.add_argument("--out", type=Path, default=QR_CODE_DIR, help="folder for the PNGs (var/qrcodes)")
    qrcodes.add_argument("--building", action="append", default=[], help="only this building; repeatable")
    qrcodes.set_defaults(func=qrcodes_command)

    report_parser = commands.add_parser("report", help="a day's, week's or month's report (日报/周报/月报)")
    report_parser.add_argument("--period", choices=KINDS, default="day")
    report_parser.add_argument(
        "--date", type=_report_date, help="any day in the period, YYYY-MM-DD (default: today, local)"
    )
    report_parser.add_argument("--grid", metavar="CODE", help="one grid (default: the whole community)")
    report_parser.add_argument(
        "--xlsx", type=Path, metavar="FILE", help="write Excel instead (for the community: every grid too)"
    )
    report_parser.set_defaults(func=report_command)

    _add_privacy_commands(commands)
    for name in ("tickets", "outbox"):
        listing = commands.add_parser(name, help=f"list {name}, newest first")
        listing.add_argument("--json", action="store_true", help="one JSON object a line")
        listing.add_argument("--limit", type=int, default=200)
        listing.set_defaults(func=listing_command)
    return parser


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
    resident_parser.set_defaults(func=resident_command)

    retention_parser = commands.add_parser("retention", help="erase personal data past its retention now")
    retention_parser.add_subparsers(dest="action", required=True).add_parser(
        "run", help="what the scheduler does every hour ([retention] in config/griddesk.toml)"
    )
    retention_parser.set_defaults(func=retention_command)

    backup_parser = commands.add_parser("backup", help="back up the database while GridDesk runs")
    backup_parser.add_argument(
        "destination",
        help="a new file, or a folder (made if it ends in /) for griddesk-<date>-<time>.db/.dump",
    )
    backup_parser.set_defaults(func=backup_command)


def _at_least_one(text: str) -> int:
    """An argparse type: a whole number, 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one command (serve when none is given)."""
    argv = list(argv or [])
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["serve", *argv]
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Werkzeug's access log prints full query strings, which carry residents' openids.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The dispatcher runs every few seconds; its per-run lines would drown everything else.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return args.func(load_settings(), args)
    except (SettingsError, IntentRulesError, CorpusError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
