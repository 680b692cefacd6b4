"""How long a restart takes: `uv run python -m bench.restart [--runs 5] [--database-url URL] [--direct]`.

WeChat waits 5 s for an answer and tries 3 times, so a message sent while GridDesk restarts is lost
unless the webhook answers again within about 15 s. On a fresh SQLite file in a temporary folder (or a
fresh database on a PostgreSQL server with --database-url), this starts `uv run run.py serve` and
`uv run run.py serve --workers 2` several times each, on a database already migrated and seeded (a
restart), and times each from the start of the command to the first answer of a signed GET /wechat,
then its stop after SIGTERM. It also runs the start-up steps once in a fresh process, one by one, to
show where the time goes. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from bench.checkins import machine
from bench.databases import describe_database, fresh_database
from bench.webhook import free_port, load_average
from bot.simulator import verification_params
from config.settings import PROJECT_ROOT

PATIENCE_SECONDS = 120.0
POLL_SECONDS = 0.02
# The steps of a start-up, timed one by one in a fresh process (what `serve` does, in its order).
STEPS = """
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import run, bot.commands.serve
mark("imports (run.py and the serve command's module)")
from config.settings import load_settings
from storage.db import make_engine, make_session_factory
settings = load_settings()
engine = make_engine(settings.database_url)
factory = make_session_factory(engine)
mark("settings, engine")
from bot.bootstrap import prepare_database
prepare_database(settings, engine, factory)
mark("schema check or migration, demo seed check")
from handlers.language.intents import classifier_for
classifier = classifier_for(settings)
mark("intent rules and emergency model")
from bot.app import create_app
from handlers.clock import utc_now
app = create_app(settings, factory, classifier)
mark("Flask app")
from bot.channels import build_messenger
from bot.scheduler import build_scheduler
messenger = build_messenger(settings, factory, utc_now)
scheduler = build_scheduler(settings, factory, messenger, utc_now, classifier)
scheduler.start()
scheduler.shutdown(wait=False)
mark("scheduler")
json.dump([(name, later - earlier) for (_, earlier), (name, later) in zip(marks, marks[1:])], sys.stdout)
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print, return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="restarts per mode (default 5)")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (a fresh database is made on it)")
    parser.add_argument("--direct", action="store_true", help="python run.py instead of uv run run.py")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder, fresh_database(args.database_url, Path(folder)) as url:
        env = environment(url, Path(folder))
        command = (
            [sys.executable, "run.py"] if args.direct or not shutil.which("uv") else ["uv", "run", "run.py"]
        )
        print(f"machine: {machine()}; load average before: {load_average()}")
        print(f"database: {describe_database(url)}; command: {' '.join(command)} serve")
        first = restart(command, env, [])
        print(f"\nfirst start (empty database: migrations, demo community): {first[0]:.2f} s to the answer")
        print(f"\n{'mode':<22} {'runs':>4} {'min':>7} {'median':>7} {'max':>7} {'stop':>6} {'CPU':>6}  load")
        for mode, extra in (("serve", []), ("serve --workers 2", ["--workers", "2"])):
            runs = [restart(command, env, extra) for _ in range(args.runs)]
            report(mode, runs)
        print("\nwhere a restart's time goes (one fresh process, python run.py's steps in order):")
        for name, seconds in steps(env):
            print(f"  {seconds:6.2f} s  {name}")
    return 0


def environment(url: str, folder: Path) -> dict[str, str]:
    """The server's environment: this one without GRIDDESK_*, on the bench database, spool in the folder."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GRIDDESK_")}
    return clean | {
        "GRIDDESK_DATABASE_URL": url,
        "GRIDDESK_SPOOL_DIR": str(folder / "spool"),
        "PYTHONUNBUFFERED": "1",
    }


def restart(command: list[str], env: dict[str, str], extra: list[str]) -> tuple[float, float, float, str]:
    """Start the server, time it to the first answer of /wechat, stop it: (start s, stop s, CPU s, load)."""
    port = free_port()
    load = load_average().split()[0]
    cpu_before = _children_cpu()
    started = time.monotonic()
    process = subprocess.Popen(
        [*command, "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        answered = _first_answer(port, process) - started
    finally:
        stopping = time.monotonic()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=PATIENCE_SECONDS)
        stopped = time.monotonic() - stopping
    return answered, stopped, _children_cpu() - cpu_before, load


def _first_answer(port: int, process: subprocess.Popen[bytes]) -> float:
    """Poll a signed URL verification, as WeChat's servers would, until it is answered 200."""
    token = "griddesk-sandbox"
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            response = requests.get(
                f"http://127.0.0.1:{port}/wechat", params=verification_params(token), timeout=5
            )
            if response.status_code == 200:
                return time.monotonic()
        except requests.RequestException:
            pass
        time.sleep(POLL_SECONDS)
    raise RuntimeError("the server did not answer in time")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(mode: str, runs: list[tuple[float, float, float, str]]) -> None:
    """One line per mode: start-to-first-answer figures, median stop time and CPU, loads seen."""
    starts = [run[0] for run in runs]
    low, middle, high = min(starts), statistics.median(starts), max(starts)
    stop, cpu = statistics.median(run[1] for run in runs), statistics.median(run[2] for run in runs)
    loads = " ".join(run[3] for run in runs)
    figures = f"{low:>6.2f}s {middle:>6.2f}s {high:>6.2f}s {stop:>5.2f}s {cpu:>5.2f}s"
    print(f"{mode:<22} {len(runs):>4} {figures}  {loads}")


def steps(env: dict[str, str]) -> list[tuple[str, float]]:
    """The start-up steps timed in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", STEPS],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PATIENCE_SECONDS,
        check=True,
    )
    return [(name, seconds) for name, seconds in json.loads(done.stdout.strip().splitlines()[-1])]


if __name__ == "__main__":
    sys.exit(main())
