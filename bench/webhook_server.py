"""The gunicorn servers of the webhook benches: GridDesk's production app plus a bare POST /bare in the
same workers, or WeRoBot's echo (`--app werobot`) under the same gunicorn settings.

`python -m bench.webhook_server --port P --workers W --threads T [--app werobot]` is what runs in the child
process group (settings from the GRIDDESK_* variables bench/webhook.py sets; the database is migrated and
filled already); `gunicorn` starts it from the bench and always stops the whole group.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Response

from bot.commands.serve import web_app
from bot.simulator import verification_params
from bot.street_app import StreetApp
from bot.wsgi import WebServer, gunicorn_options
from config.settings import PROJECT_ROOT, Settings, load_settings

HOST = "127.0.0.1"
APPS = ("griddesk", "werobot")
BOOT_SECONDS = 60.0
STOP_SECONDS = 20.0
IDLE_WAIT_SECONDS = 60.0
# CPU seconds over half a second below which the server counts as idle (10% of one core).
IDLE_CPU_SECONDS = 0.05


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until gunicorn is told to stop (SIGTERM to the process group)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--app", choices=APPS, default="griddesk", help="what the workers serve (griddesk)")
    args = parser.parse_args(argv)
    # As run.py configures logging: GridDesk's per-message INFO line is part of what production pays.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = load_settings()
    options = gunicorn_options(HOST, args.port, args.workers, args.threads)
    factory = werobot_echo if args.app == "werobot" else bench_app
    WebServer(lambda: factory(settings), options).run()
    return 0


def bench_app(settings: Settings) -> StreetApp:
    """What `run.py serve --workers` builds in each worker, plus POST /bare."""
    app = web_app(settings)
    app.home.add_url_rule("/bare", "bare", bare, methods=["POST"])
    return app


def bare() -> Response:
    """'success' at once: what gunicorn and Flask cost without any of GridDesk's work."""
    return Response("success", content_type="text/plain")


def werobot_echo(settings: Settings) -> Any:
    """WeRoBot's own WSGI app (bottle) replying every text with itself: safe mode, sessions off.

    The same token, appid and EncodingAESKey as GridDesk's, so it checks the same signatures, decrypts
    the same messages and encrypts its reply: the work of a webhook that stores and decides nothing.
    """
    from werobot import WeRoBot  # a bench dependency only (the dev group)

    wechat = settings.wechat
    robot = WeRoBot(
        token=wechat.token, app_id=wechat.appid, encoding_aes_key=wechat.aes_key, SESSION_STORAGE=False
    )
    robot.add_handler(lambda message: message.content, type="text")
    return robot.wsgi


# The bench's side: start, watch and stop the server


@dataclass(frozen=True)
class Server:
    """The gunicorn master, leader of its own process group, and its log."""

    pid: int
    log: Path

    def workers(self) -> list[int]:
        """The worker processes' ids."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        if children.exists():
            return [int(pid) for pid in children.read_text().split()]
        return [pid for pid in _all_pids() if _stat(pid)[1:2] == [str(self.pid)]]

    def cpu_seconds(self) -> float:
        """User plus system CPU of the master and its workers so far."""
        stats = [_stat(pid) for pid in [self.pid, *self.workers()]]
        ticks = sum(int(fields[11]) + int(fields[12]) for fields in stats if fields)
        return ticks / os.sysconf("SC_CLK_TCK")

    def wait_idle(self, seconds: float = IDLE_WAIT_SECONDS) -> None:
        """Wait until the workers stop using CPU: requests the bench gave up on are still being handled."""
        deadline = time.monotonic() + seconds
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = self.cpu_seconds()
            if now - before < IDLE_CPU_SECONDS:
                return
            before = now

    def memory(self) -> list[str]:
        """VmRSS and VmHWM (peak) of the master and of each worker, from /proc/<pid>/status."""
        lines = []
        for role, pid in [("master", self.pid), *(("worker", pid) for pid in self.workers())]:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            fields = dict(line.split(":", 1) for line in status if ":" in line)
            lines.append(f"{role} {pid}: VmRSS {_mib(fields['VmRSS'])}, peak VmHWM {_mib(fields['VmHWM'])}")
        return lines


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, ... (utime, stime at 11, 12); [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _mib(value: str) -> str:
    return f"{int(value.split()[0]) / 1024:.1f} MiB"


@contextmanager
def gunicorn(
    folder: Path, env: dict[str, str], port: int, workers: int, threads: int, app: str = "griddesk"
) -> Iterator[Server]:
    """This module's server in its own process group; the whole group is stopped however the bench ends."""
    command = [sys.executable, "-m", "bench.webhook_server", "--port", str(port)]
    command += ["--workers", str(workers), "--threads", str(threads), "--app", app]
    log_path = folder / ("gunicorn.log" if app == "griddesk" else f"gunicorn-{app}.log")
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_until_ready(process, port, workers, log_path, _ready_path(app, env))
            yield Server(process.pid, log_path)
        finally:
            stop_process_group(process)


def _ready_path(app: str, env: dict[str, str]) -> str:
    """GridDesk's /healthz; for WeRoBot, WeChat's signed server check (it answers nothing unsigned)."""
    if app == "griddesk":
        return "/healthz"
    return "/?" + urlencode(verification_params(env["GRIDDESK_WECHAT_TOKEN"]))


def _wait_until_ready(
    process: subprocess.Popen[bytes], port: int, workers: int, log_path: Path, path: str
) -> None:
    """Every worker booted and `path` answering 200; the log in the error when gunicorn gives up."""
    deadline = time.monotonic() + BOOT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()}")
        if log_path.read_text().count("Booting worker") >= workers and _healthy(port, path):
            return
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn not ready after {BOOT_SECONDS:g} s:\n{log_path.read_text()}")


def _healthy(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def stop_process_group(process: subprocess.Popen[Any]) -> None:
    """SIGTERM the process group (gunicorn stops its workers gracefully); SIGKILL whatever outlives it."""
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 5
    while _signal_group(process.pid, 0):
        if time.monotonic() > deadline:
            command = " ".join(process.args[1:3])
            print(f"warning: {command} left processes behind; killing them", file=sys.stderr)
            _signal_group(process.pid, signal.SIGKILL)
            return
        time.sleep(0.1)


def _signal_group(group: int, signum: int) -> bool:
    """Send a signal to a process group; False when no process is left in it."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
