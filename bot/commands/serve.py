"""`serve` (the webhook, with the scheduler in the sandbox) and `scheduler` (the scheduler alone)."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from werkzeug.serving import run_simple

from bot.commands.address import remove_address, webhook_url, write_address
from bot.commands.runtime import shown_url
from bot.spool import Spool
from bot.street import open_street
from bot.street_app import StreetApp
from config.settings import Settings, SettingsError, load_settings
from handlers.clock import Clock, utc_now

log = logging.getLogger("griddesk")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the webhook: under gunicorn with --workers, else the one-process sandbox with the scheduler."""
    if args.community is not None:
        print("serve serves every community: leave out --community", file=sys.stderr)
        return 2
    host, port = args.host or settings.host, args.port or settings.port
    check_spool(settings)
    problem = port_problem(host, port)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    refusal = frozen_clock_refusal(settings, args)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    if args.workers is not None:
        return serve_workers(settings, host, port, args.workers, args.threads)
    clock = frozen_clock(utc_now()) if args.freeze_clock else None
    street = open_street(settings, clock=clock).prepare()
    app = street.app
    street.start_schedulers()
    street.start_web_workers()
    street.start_watching()
    announce(settings, host, port)
    print(banner(settings, host, port, communities=street.names), flush=True)
    if args.freeze_clock:
        frozen_at = f"{street.home.clock():%Y-%m-%d %H:%M:%S}"
        print(f"  clock:    stands still at {frozen_at} UTC (--freeze-clock)", flush=True)
    _stop_on_sigterm()
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        street.stop_watching()
        street.stop_web_workers()
        street.stop_schedulers(wait=False)
        remove_address(settings.address_file)
        street.close()
    return 0


def serve_workers(settings: Settings, host: str, port: int, workers: int, threads: int) -> int:
    """Run the webhook under gunicorn in `workers` processes; `run.py scheduler` runs the scheduler."""
    # Imported here: gunicorn runs on Unix only, and the one-process sandbox does not need it.
    from bot.wsgi import WebServer, gunicorn_options

    # Migrate and seed once, in the master; its engines are gone before any worker forks.
    street = open_street(settings).prepare()
    street.close()
    announce(settings, host, port)
    print(banner(settings, host, port, workers=workers, communities=street.names), flush=True)
    try:
        WebServer(lambda: web_app(settings), gunicorn_options(host, port, workers, threads)).run()
    finally:
        remove_address(settings.address_file)
    return 0


def web_app(settings: Settings) -> StreetApp:
    """Every community's webhook on engines of its own: what each gunicorn worker builds after the fork.

    Each worker also replays the spools (the workers take turns through a lock file), runs inbox
    workers for the messages queued under overload (they claim each message under a lease), and looks at
    the register for communities added since it started.
    """
    street = open_street(settings, migrate=False)
    street.start_web_workers()
    app = street.app
    street.start_watching()  # communities registered later are served by this worker too
    return app


def frozen_clock_refusal(settings: Settings, args: argparse.Namespace) -> str | None:
    """Why --freeze-clock cannot be used here: only the one-process sandbox may stop its clock."""
    if not args.freeze_clock:
        return None
    if not settings.sandbox:
        return "--freeze-clock is for the sandbox only (wechat.secret is set: a live Official Account)"
    if args.workers is not None:
        return "--freeze-clock is for the one-process sandbox, not with --workers"
    return None


def frozen_clock(at: datetime) -> Clock:
    """A clock that always says `at`: deadlines, re-pages and check-ins stay where they were at start."""
    return lambda: at


def check_spool(settings: Settings) -> None:
    """Stop start-up with one line when the spool folder cannot be written."""
    try:
        Spool(settings.spool.dir, settings.database_url).check()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SettingsError(f"spool.dir: cannot write to {settings.spool.dir}: {reason}") from exc


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on host:port (busy, unknown host), found before anything starts."""
    try:
        family, kind, _proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        return f"cannot listen on {host}: {exc}"
    with socket.socket(family, kind) as probe:
        # As the real server does, so a port left in TIME_WAIT by the last run still counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == 98:  # EADDRINUSE
                return (
                    f"port {port} on {host} is already in use (is GridDesk running already? "
                    "`uv run run.py say` finds it); choose another with --port or GRIDDESK_SERVER_PORT"
                )
            return f"cannot listen on port {port} on {host}: {exc.strerror or exc}"
    return None


def announce(settings: Settings, host: str, port: int) -> None:
    """Write the address file that `say` reads; a failure costs only that convenience."""
    try:
        write_address(settings.address_file, webhook_url(host, port))
    except OSError as exc:
        log.warning("cannot write the address file %s: %s", settings.address_file, exc.strerror or exc)


def _stop_on_sigterm() -> None:
    """Let SIGTERM end the server like Ctrl-C does, so the clean-up in `serve` runs."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def scheduler_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run every community's scheduler until SIGTERM or SIGINT; any number of these may run at once."""
    if args.community is not None:
        print("scheduler runs every community's jobs: leave out --community", file=sys.stderr)
        return 2
    street = open_street(settings).prepare()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    street.start_schedulers()
    street.start_watching()  # a community registered later gets its scheduler here too
    print(scheduler_banner(settings, street.names), flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        street.stop_watching()
        # Let running jobs finish, so they hand their leases back instead of leaving them to run out.
        street.stop_schedulers(wait=True)
        street.close()
    print("GridDesk scheduler stopped", flush=True)
    return 0


def scheduler_banner(settings: Settings, communities: Mapping[str, str]) -> str:
    """What the scheduler process does, and where sandbox pushes show up."""
    pushes = "print here (sandbox)" if settings.sandbox else "go to WeChat"
    return "\n".join(
        [
            "GridDesk scheduler: outbox dispatch, deadline and check-in sweeps, visit digests, reports",
            f"  pushes:   {pushes}",
            f"  database: {shown_url(settings.database_url)}",
            *communities_lines(communities),
        ]
    )


def communities_lines(communities: Mapping[str, str]) -> list[str]:
    """The banner's line about the other communities served, if there are any."""
    others = [f"{name} (/wechat/{slug})" for slug, name in list(communities.items())[1:]]
    return [f"  also:     {', '.join(others)}"] if others else []


def banner(
    settings: Settings,
    host: str,
    port: int,
    workers: int | None = None,
    communities: Mapping[str, str] | None = None,
) -> str:
    """What the person who started GridDesk needs to know to try it."""
    where = "pushes print here" if workers is None else "pushes print in `run.py scheduler`"
    mode = f"SANDBOX (no WeChat app secret: {where})" if settings.sandbox else "LIVE Official Account"
    safe = "safe mode (AES) on" if settings.wechat.safe_mode else "plaintext mode"
    lines = [
        "GridDesk 网格服务台",
        f"  mode:     {mode}, {safe}",
        f"  webhook:  http://{host}:{port}/wechat",
        f"  database: {shown_url(settings.database_url)}",
        *communities_lines(communities or {}),
    ]
    if workers is not None:
        lines.append(f"  server:   gunicorn, {workers} worker processes; start `uv run run.py scheduler` too")
    if settings.sandbox:
        say = f"uv run run.py say{say_url_option(settings, host, port)}"
        lines += [
            "  try, in a second terminal:",
            f'    {say} --as demo-resident-zhang "卫生间水管漏水了"',
            f'    {say} --as demo-resident-zhang "我的工单"',
            "  demo openids: see README.md (residents demo-resident-zhang / -liu / -sun)",
        ]
    return "\n".join(lines)


def say_url_option(settings: Settings, host: str, port: int) -> str:
    """' --url ...' unless `say`, typed in a fresh terminal, finds this server by itself.

    It does through the address file at its default place (the defaults alone say where); one moved by
    GRIDDESK_SERVER_ADDRESS_FILE or a config file may not be set in that other terminal: then name the URL.
    """
    if settings.address_file == load_settings(environ={}).address_file:
        return ""
    return f" --url {webhook_url(host, port)}"
