"""Production layout, as the README runs it: `serve --workers 2` (gunicorn) and separate schedulers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from run import build_parser
from tests.cli import run_in_process
from tests.conftest import command_env
from tests.e2e.test_command_line import ROOT, free_port, wait_until_up

STOP_SECONDS = 15


@contextmanager
def started(
    folder: Path, env: dict[str, str], name: str, *args: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Run `run.py <args>` in its own process group; always stop the group. Yields it and its log file."""
    path = folder / f"{name}.log"
    with path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "run.py", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process, path
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (gunicorn's workers too); SIGKILL it if it does not stop in time."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def wait_for_log(path: Path, text: str, count: int = 1, seconds: float = 30) -> None:
    """Wait until `text` appears `count` times in the log at `path`; fail with the log after `seconds`."""
    deadline = time.monotonic() + seconds
    while path.read_text().count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not seen {count} times in {path.name}:\n{path.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """gunicorn with two workers, then two schedulers; yields the environment and the logs' folder."""
    folder = tmp_path_factory.mktemp("production")
    port = free_port()
    # command_env: a fresh SQLite file, or a fresh PostgreSQL database with GRIDDESK_TEST_DATABASE_URL.
    env = command_env(
        folder / "production.db",
        GRIDDESK_SERVER_PORT=str(port),
        GRIDDESK_DISPATCHER_INTERVAL_SECONDS="0.5",
        PYTHONUNBUFFERED="1",
    )
    with ExitStack() as stack:
        web, web_log = stack.enter_context(
            started(folder, env, "web", "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port))
        )
        wait_until_up(port, web, web_log)
        # Each worker logs its boot after the fork; on a busy machine the second may lag behind the first.
        wait_for_log(web_log, "Booting worker", count=2)
        for name in ("scheduler-1", "scheduler-2"):
            stack.enter_context(started(folder, env, name, "scheduler"))
        for name in ("scheduler-1", "scheduler-2"):
            # Under load a scheduler takes seconds to start: `say` would wait for a dispatcher not yet
            # there, and a SIGTERM before its handlers are set would kill it instead of stopping it.
            wait_for_log(folder / f"{name}.log", "GridDesk scheduler:", seconds=60)
        yield env, folder
    for log in folder.glob("*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()
    for name in ("scheduler-1", "scheduler-2"):  # SIGTERM stops a scheduler cleanly
        assert "GridDesk scheduler stopped" in (folder / f"{name}.log").read_text()


@pytest.mark.slow
def test_gunicorn_serves_in_two_workers_without_the_scheduler(production) -> None:
    env, folder = production
    port = env["GRIDDESK_SERVER_PORT"]
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).text == "ok"
    web = (folder / "web.log").read_text()
    assert "Using worker: QueueTimedWorker" in web and web.count("Booting worker") == 2  # gthread, timed
    assert "Running on http" not in web  # not Flask's development server


@pytest.mark.slow
def test_a_separate_scheduler_delivers_the_push(production) -> None:
    env, folder = production
    said = run_in_process(env, "say", "--as", "demo-resident-zhang", "卫生间水管漏水了")
    assert said.returncode == 0, said.stdout + said.stderr
    assert "王芳(demo-worker-wang)· 已送达" in said.stdout, said.stdout
    rows = [json.loads(line) for line in run_in_process(env, "outbox", "--json").stdout.splitlines()]
    leak = [row for row in rows if "卫生间水管漏水了" in row["text"]]
    assert [row["status"] for row in leak] == ["sent"]
    # Sandbox pushes print in the process that sent them: one scheduler, once; never the web workers.
    printed = {log.stem: log.read_text().count("── 推送 → 王芳") for log in folder.glob("*.log")}
    assert printed["web"] == 0 and printed["scheduler-1"] + printed["scheduler-2"] == 1, printed


def test_workers_must_be_at_least_one(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", "--workers", "0"])
    assert exited.value.code == 2 and "must be at least 1" in capsys.readouterr().err
