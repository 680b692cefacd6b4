"""How fast the command line answers: `uv run python -m bench.cli [--runs 10] [--before REF]`.

Times whole processes, as a person at a terminal waits for them: `python run.py --help`, `tickets`,
`tickets --json`, `outbox`, `worker list` and `report`, each several times after one warm-up run, on a
SQLite file already migrated, with the demo community and 30 messages from its residents (15 tickets:
a resident's repeat joins their open ticket). Prints wall and CPU seconds
(min, median, max) per command. With --before REF (a git commit, e.g. main), the same commands of that
commit's run.py are timed too, from a copy made with `git archive`, on the same database and Python.
Bytecode caches are written as a user's Python writes them (PYTHONDONTWRITEBYTECODE is unset for the
commands): the warm-up run fills them. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.checkins import machine
from bench.webhook import load_average
from config.settings import PROJECT_ROOT

COMMANDS = (
    ("--help",),
    ("tickets",),
    ("tickets", "--json"),
    ("outbox",),
    ("worker", "list"),
    ("report",),
)
MESSAGES = 30
TEXTS = ("卫生间水管漏水了", "电费怎么充", "楼上邻居太吵了", "降压药没有了", "想请社区医生上门看看")


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print, return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs per command (default 10)")
    parser.add_argument("--before", metavar="REF", help="also time this git commit's run.py (e.g. main)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        env = environment(Path(folder))
        prepare(env)
        roots = [("this tree", PROJECT_ROOT)]
        if args.before:
            roots.insert(0, (f"{args.before}", checkout(args.before, Path(folder) / "before")))
        print(f"machine: {machine()}; load average before: {load_average()}")
        print(f"{MESSAGES} messages in a migrated SQLite file; {args.runs} runs a command after a warm-up\n")
        print(f"{'command':<22} {'code':<10} {'wall min':>8} {'median':>7} {'max':>6}   {'CPU median':>10}")
        for command in COMMANDS:
            for label, root in roots:
                walls, cpus = timed(root, command, env, args.runs)
                print(
                    f"{' '.join(command):<22} {label:<10} {min(walls):8.2f} {statistics.median(walls):7.2f} "
                    f"{max(walls):6.2f}   {statistics.median(cpus):10.2f}"
                )
        print(f"\nload average after: {load_average()}")
    return 0


def environment(folder: Path) -> dict[str, str]:
    """The commands' environment: this one without GRIDDESK_* and with bytecode caches, on a bench file."""
    skipped = ("GRIDDESK_", "PYTHONDONTWRITEBYTECODE")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(skipped)}
    return clean | {
        "GRIDDESK_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "GRIDDESK_SPOOL_DIR": str(folder / "spool"),
    }


def prepare(env: dict[str, str]) -> None:
    """Migrate and seed the bench database, then send the residents' messages through the webhook here."""
    subprocess.run([sys.executable, "run.py", "migrate"], cwd=PROJECT_ROOT, env=env, check=True)
    from bot.app import create_app
    from bot.simulator import message_xml, sign
    from config.settings import load_settings
    from handlers.language.intents import classifier_for
    from storage.db import make_engine, make_session_factory

    settings = load_settings(environ=env)
    engine = make_engine(settings.database_url)
    try:
        client = create_app(settings, make_session_factory(engine), classifier_for(settings)).test_client()
        for number in range(MESSAGES):
            openid = ("demo-resident-zhang", "demo-resident-liu", "demo-resident-sun")[number % 3]
            body = message_xml(openid, "text", {"Content": TEXTS[number % len(TEXTS)]})
            signed = sign(settings.wechat.token, body)
            client.post("/wechat", query_string=signed.params, data=signed.body.encode())
    finally:
        engine.dispose()


def checkout(ref: str, folder: Path) -> Path:
    """The project as of `ref`, unpacked from `git archive` (the repository itself is left alone)."""
    archive = subprocess.run(["git", "archive", ref], cwd=PROJECT_ROOT, capture_output=True, check=True)
    folder.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def timed(
    root: Path, command: tuple[str, ...], env: dict[str, str], runs: int
) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each run of `python run.py COMMAND` in `root`."""
    walls, cpus = [], []
    for attempt in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "run.py", *command],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if attempt:  # the first run is the warm-up
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


if __name__ == "__main__":
    sys.exit(main())
