"""The README's commands, run as a user would: serve in its own process; say/tickets/outbox/classify reach it
from here (in-process, tests/cli.py; test_cli_basics runs `say` as a process too)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.cli import run_in_process
from tests.conftest import TEST_AES_KEY, TEST_APPID, command_env

ROOT = Path(__file__).resolve().parents[2]
UP_PATIENCE_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`run.py serve` on a free port and a fresh database; yields the environment to reach it.

    The tests share it, so its clock stands still (--freeze-clock): however long the run takes, no
    deadline passes and no earlier test's emergency re-pages into a later test's outbox. `say` signs with
    the real time, so the webhook accepts signatures up to an hour away from the server's clock; and
    each sender's messages all fall within one minute of it (the flood throttle allows 20).
    """
    folder = tmp_path_factory.mktemp("cli")
    with running_server(folder, "--freeze-clock", GRIDDESK_WEBHOOK_TIMESTAMP_WINDOW_SECONDS="3600") as env:
        yield env


@contextmanager
def running_server(folder: Path, *options: str, **settings: str) -> Iterator[dict[str, str]]:
    """Start `run.py` (serve) with `options` and GRIDDESK_* settings; stop it, check its log at the end."""
    port = free_port()
    env = command_env(
        folder / "cli.db",
        GRIDDESK_SERVER_PORT=str(port),
        GRIDDESK_DISPATCHER_INTERVAL_SECONDS="0.5",
        PYTHONUNBUFFERED="1",
        **settings,
    )
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "run.py", *options], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until_up(port, process, folder / "server.log")
        yield env
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
    output = (folder / "server.log").read_text()
    assert "Traceback" not in output, output


def wait_until_up(port: int, process: subprocess.Popen[bytes], log: Path | None = None) -> None:
    """Wait for /healthz; a loaded machine starts slowly, so a request error or timeout is one more try."""
    deadline = time.monotonic() + UP_PATIENCE_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early{_log_text(log)}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not come up{_log_text(log)}")
        time.sleep(0.2)


def _log_text(log: Path | None) -> str:
    return f":\n{log.read_text()}" if log is not None else ""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("openid", "text", "reply_words", "push_to"),
    [
        ("demo-resident-zhang", "卫生间水管漏水了", ["报修", "网格员王芳"], "王芳(demo-worker-wang)· 已送达"),
        ("demo-resident-liu", "电费怎么充", ["缴费", "网格员李骁"], "李骁(demo-worker-li)· 已送达"),
        ("demo-resident-zhang", "糖尿病的药快吃完了", ["买药"], "王芳(demo-worker-wang)· 已送达"),
        ("demo-resident-liu", "想请社区医生上门看看", ["看病就医"], "李骁(demo-worker-li)· 已送达"),
        ("demo-resident-zhang", "楼下烧烤油烟呛人", ["邻里纠纷"], "王芳(demo-worker-wang)· 已送达"),
        ("demo-resident-liu", "残疾人补贴怎么申请", ["咨询"], "李骁(demo-worker-li)· 已送达"),
        ("demo-resident-sun", "家里没有自来水了", ["网格员李骁"], "李骁(demo-worker-li)· 已送达"),
        ("demo-resident-zhang", "救命", ["120", "赵建国"], "赵建国(demo-leader-zhao)· 已送达"),
    ],
)
def test_say_shows_the_reply_and_the_delivered_push(server, openid, text, reply_words, push_to) -> None:
    result = run_in_process(server, "say", "--as", openid, text)
    assert result.returncode == 0, result.stdout + result.stderr
    reply, _, pushes = result.stdout.partition("【推送")
    assert all(word in reply for word in reply_words), result.stdout
    assert push_to in result.stdout and text in pushes


@pytest.mark.slow
def test_say_in_safe_mode_encrypts_both_ways(tmp_path: Path) -> None:
    aes = {"GRIDDESK_WECHAT_AES_KEY": TEST_AES_KEY, "GRIDDESK_WECHAT_APPID": TEST_APPID}
    with running_server(tmp_path, **aes) as env:
        result = run_in_process(env, "say", "--as", "demo-resident-liu", "单元楼的电梯停了")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "网格员李骁" in result.stdout and "李骁(demo-worker-li)· 已送达" in result.stdout


@pytest.mark.slow
def test_say_voice_without_transcript(server) -> None:
    result = run_in_process(server, "say", "--as", "demo-resident-liu", "--voice")
    assert result.returncode == 0 and "语音留言" in result.stdout and "已送达" in result.stdout


@pytest.mark.slow
def test_say_to_a_server_that_is_not_running_explains(server) -> None:
    result = run_in_process(
        server, "say", "--as", "demo-resident-liu", "--url", f"http://127.0.0.1:{free_port()}/wechat", "hi"
    )
    assert result.returncode == 1 and "Is `uv run run.py` running?" in result.stdout


@pytest.mark.slow
def test_worker_invite_prints_a_code_that_binds_once(server) -> None:
    # A community-office account, so the demo grids the other tests use keep their workers.
    invited = run_in_process(
        server, "worker", "invite", "--name", "周敏", "--role", "community", "--phone", "13900000009"
    )
    assert invited.returncode == 0, invited.stderr
    code = invited.stdout.split("Binding code for 周敏 (community): ")[1].split()[0]
    first = run_in_process(server, "say", "--as", "o-zhoumin", f"绑定 {code}")
    assert "绑定成功" in first.stdout and "全社区" in first.stdout
    again = run_in_process(server, "say", "--as", "o-someone-else", f"绑定 {code}")
    assert "无效" in again.stdout
    staff = [json.loads(line) for line in run_in_process(server, "worker", "list").stdout.splitlines()]
    zhou = {"name": "周敏", "role": "community", "grids": [], "backup": None, "on_duty": True, "bound": True}
    zhou["left"] = False
    assert zhou in staff
    refused = run_in_process(server, "worker", "invite", "--name", "吴刚", "--grid", "G9")
    assert refused.returncode == 2 and "no grid with code 'G9'" in refused.stderr


@pytest.mark.slow
def test_a_worker_signs_with_say_and_the_resident_is_told(server) -> None:
    opened = run_in_process(server, "say", "--as", "demo-resident-liu", "楼上邻居太吵了")
    number = opened.stdout.split("工单号 #")[1].split("。")[0]
    signed = run_in_process(server, "say", "--as", "demo-worker-li", f"签收 {number}")
    assert f"已签收工单 #{number}" in signed.stdout
    assert "刘建华(demo-resident-liu)· 已送达" in signed.stdout and "已由网格员李骁签收" in signed.stdout


@pytest.mark.slow
def test_the_shared_server_s_clock_stands_still_at_its_start(server) -> None:
    texts = ("楼道的灯坏了", "楼上邻居半夜吵闹")
    said = [run_in_process(server, "say", "--as", "demo-resident-sun", text) for text in texts]
    numbers = [result.stdout.split("工单号 #")[1].split("。")[0] for result in said]
    tickets = [json.loads(line) for line in run_in_process(server, "tickets", "--json").stdout.splitlines()]
    created = {str(ticket["number"]): ticket["created"] for ticket in tickets}
    assert numbers[0] != numbers[1] and created[numbers[0]] == created[numbers[1]]
    # The moment the server started, not a made-up date: `say`'s real-time signatures stay fresh for it.
    assert timedelta(0) < datetime.now(UTC) - datetime.fromisoformat(created[numbers[0]]) < timedelta(hours=1)


def test_freeze_clock_is_refused_outside_the_one_process_sandbox(tmp_path: Path) -> None:
    live = {"GRIDDESK_WECHAT_APPID": TEST_APPID, "GRIDDESK_WECHAT_SECRET": "a-real-secret"}
    port = str(free_port())
    live_env = command_env(tmp_path / "cli.db", **live)
    on_live = run_in_process(live_env, "serve", "--freeze-clock", "--port", port)
    assert on_live.returncode == 2
    assert on_live.stderr.strip() == (
        "--freeze-clock is for the sandbox only (wechat.secret is set: a live Official Account)"
    )
    with_workers = run_in_process(
        command_env(tmp_path / "cli.db"), "serve", "--freeze-clock", "--workers", "2", "--port", port
    )
    assert with_workers.returncode == 2
    assert with_workers.stderr.strip() == "--freeze-clock is for the one-process sandbox, not with --workers"
    assert not (tmp_path / "cli.db").exists()  # refused before anything started


@pytest.mark.slow
def test_tickets_and_outbox_print_json_lines(server) -> None:
    run_in_process(server, "say", "--as", "demo-resident-liu", "空调不制冷")
    tickets = [json.loads(line) for line in run_in_process(server, "tickets", "--json").stdout.splitlines()]
    newest = tickets[0]
    assert {"number", "category", "status", "resident", "assignee", "created"} <= newest.keys()
    assert (newest["category"], newest["resident"], newest["assignee"]) == (
        "repair",
        "demo-resident-liu",
        "李骁",
    )
    outbox = [json.loads(line) for line in run_in_process(server, "outbox", "--json").stdout.splitlines()]
    assert {"recipient", "channel", "status", "text"} <= outbox[0].keys()
    assert any(row["ticket"] == newest["number"] and row["channel"] == "console" for row in outbox)


def test_a_broken_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    rules = tmp_path / "intents.toml"
    rules.write_text('[categories.repair.patterns]\n"(漏水" = 3\n', encoding="utf-8")
    env = command_env()
    result = run_in_process(env | {"GRIDDESK_PATHS_INTENTS": str(rules)}, "classify", "水管漏了")
    assert result.returncode == 2
    assert "configuration error" in result.stderr and "repair" in result.stderr
    assert "Traceback" not in result.stderr


def test_classify_reads_arguments_and_stdin() -> None:
    env = command_env()
    by_args = run_in_process(env, "classify", "家里着火了", "谢谢")
    lines = [json.loads(line) for line in by_args.stdout.splitlines()]
    assert [line["category"] for line in lines] == ["emergency", "other"]
    assert {"text", "category", "kind", "confidence", "matched", "possible_emergency"} <= set(lines[0])
    assert lines[0]["matched"]
    by_stdin = run_in_process(env, "classify", stdin="马桶不下水\n\n降压药没有了\n")
    assert [json.loads(line)["category"] for line in by_stdin.stdout.splitlines()] == ["repair", "medicine"]


@pytest.mark.slow
def test_worker_leave_unbinds_them_and_the_duty_desk_carries_on(server) -> None:
    invited = run_in_process(server, "worker", "invite", "--name", "孙丽", "--role", "community")
    code = invited.stdout.split("Binding code for 孙丽 (community): ")[1].split()[0]
    assert "绑定成功" in run_in_process(server, "say", "--as", "o-sunli", f"绑定 {code}").stdout
    again = run_in_process(server, "worker", "invite", "--name", "孙丽", "--role", "community")
    assert again.returncode == 2 and "already has a WeChat bound" in again.stderr

    left = run_in_process(server, "worker", "leave", "--name", "孙丽")

    assert left.returncode == 0, left.stderr
    assert "孙丽 has left: WeChat unbound" in left.stdout and "Grids: none" in left.stdout
    staff = [json.loads(line) for line in run_in_process(server, "worker", "list").stdout.splitlines()]
    assert {"name": "孙丽", "bound": False, "left": True}.items() <= staff[-1].items()
    # An emergency from someone not yet placed pages the whole duty desk: not her any more.
    run_in_process(server, "say", "--as", "o-stranger-after-sunli", "救命,家里着火了")
    outbox = [json.loads(line) for line in run_in_process(server, "outbox", "--json").stdout.splitlines()]
    paged = {row["recipient_name"] for row in outbox if row["kind"] == "emergency"}
    assert "社区值班台" in paged and "孙丽" not in paged
    unknown = run_in_process(server, "worker", "leave", "--name", "孙丽")
    assert unknown.returncode == 2 and "no serving worker named '孙丽'" in unknown.stderr


def test_a_spool_folder_that_cannot_be_written_stops_start_up_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the spool folder should be")
    env = command_env(tmp_path / "cli.db", GRIDDESK_SPOOL_DIR=str(blocker / "spool"))
    result = run_in_process(env, "serve", "--port", str(free_port()))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().startswith(
        f"configuration error: spool.dir: cannot write to {blocker / 'spool'}"
    )
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_spool_replay_interval_of_zero_stops_start_up(tmp_path: Path) -> None:
    env = command_env(tmp_path / "cli.db", GRIDDESK_SPOOL_REPLAY_INTERVAL_SECONDS="0")
    result = run_in_process(env, "serve", "--port", str(free_port()))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: GRIDDESK_SPOOL_REPLAY_INTERVAL_SECONDS (spool.replay_interval_seconds): "
        "expected a number of seconds more than 0 and at most 3600, got '0'"
    )
