"""`serve` (the webhook, with the scheduler in the sandbox) and `scheduler` (the scheduler alone)."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from datetime import datetime
from typing import Any

from flask import Flask

from bot.app import inbox_workers, spool_replayer
from bot.bootstrap import bootstrap
from bot.commands.address import remove_address, webhook_url, write_address
from bot.commands.runtime import open_runtime, shown_url
from bot.spool import Spool
from config.settings import Settings, SettingsError, load_settings
from handlers.clock import Clock, utc_now

log = logging.getLogger("griddesk")


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the webhook: under gunicorn with --workers, else the one-process sandbox with the scheduler."""
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
    runtime = bootstrap(settings, clock=frozen_clock(utc_now()) if args.freeze_clock else None).prepare()
    app, scheduler = runtime.app, runtime.scheduler
    scheduler.start()
    replayer = spool_replayer(app)
    replayer.start(settings.spool.replay_interval_seconds)
    workers = inbox_workers(app)
    workers.start()
    announce(settings, host, port)
    print(banner(settings, host, port), flush=True)
    if args.freeze_clock:
        frozen_at = f"{runtime.clock():%Y-%m-%d %H:%M:%S}"
        print(f"  clock:    stands still at {frozen_at} UTC (--freeze-clock)", flush=True)
    _stop_on_sigterm()
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        workers.stop()
        replayer.stop()
        scheduler.shutdown(wait=False)
        remove_address(settings.address_file)
        runtime.close()
    return 0


def serve_workers(settings: Settings, host: str, port: int, workers: int, threads: int) -> int:
    """Run the webhook under gunicorn in `workers` processes; `run.py scheduler` runs the scheduler."""
    # Imported here: gunicorn runs on Unix only, and the one-process sandbox does not need it.
    from bot.wsgi import WebServer, gunicorn_options

    # Migrate and seed once, in the master; its engine is gone before any worker forks.
    open_runtime(settings).close()
    announce(settings, host, port)
    print(banner(settings, host, port, workers=workers), flush=True)
    try:
        WebServer(lambda: web_app(settings), gunicorn_options(host, port, workers, threads)).run()
    finally:
        remove_address(settings.address_file)
    return 0


def web_app(settings: Settings) -> Flask:
    """The webhook on an engine of its own: what each gunicorn worker builds after the fork.

    Each worker also replays the spool (the workers take turns through a lock file) and runs inbox
    workers for the messages queued under overload (they claim each message under a lease).
    """
    app = bootstrap(settings).app
    spool_replayer(app).start(settings.spool.replay_interval_seconds)
    inbox_workers(app).start()
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


def scheduler_command(settings: Settings, _args: argparse.Namespace) -> int:
    """Run the scheduler alone until SIGTERM or SIGINT; any number of these may run at once."""
    runtime = open_runtime(settings)
    scheduler = runtime.scheduler
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
        runtime.close()
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
