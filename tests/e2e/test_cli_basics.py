"""The command line's everyday manners: it starts light, finds its server, and fails in one line."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.app import create_app
from bot.commands.serve import banner
from run import main
from storage.db import make_engine, upgrade
from tests.cli import run_in_process
from tests.conftest import command_env, database_url
from tests.e2e.test_command_line import ROOT, free_port, run, wait_until_up
from tests.support import on_loopback

ZHANG = "demo-resident-zhang"
HEAVY = ("flask", "sqlalchemy", "wechatpy", "apscheduler", "openpyxl", "requests", "alembic")
UNREACHABLE = "postgresql+psycopg://griddesk:s3cret@127.0.0.1:1/griddesk"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """In-process commands use the test's database (the `settings` fixture's) and keep files in tmp_path."""
    url = database_url(tmp_path / "griddesk.db")
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", url)
    monkeypatch.setenv("GRIDDESK_SERVER_ADDRESS_FILE", str(tmp_path / "server.json"))
    monkeypatch.setenv("GRIDDESK_SPOOL_DIR", str(tmp_path / "spool"))
    return url


def test_help_and_parsing_load_no_command_and_none_of_the_heavy_libraries() -> None:
    probe = "import sys, run\nrun.build_parser().parse_args(['tickets'])\nprint(' '.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert loaded.returncode == 0, loaded.stderr
    ours = ("bot.", "handlers.", "storage")
    allowed = {"bot.commands", "bot.commands.parser", "handlers.texts"}
    too_much = [
        name
        for name in loaded.stdout.split()
        if name.split(".")[0] in HEAVY or (name.startswith(ours) and name not in allowed)
    ]
    assert too_much == []
    helped = run(command_env(), "--help")
    assert helped.returncode == 0 and "tickets" in helped.stdout and "migrate" in helped.stdout


@pytest.mark.slow
def test_the_server_s_address_file_lets_say_find_it_on_any_port(tmp_path: Path) -> None:
    port = free_port()
    env = command_env(tmp_path / "cli.db", GRIDDESK_DISPATCHER_INTERVAL_SECONDS="0.5", PYTHONUNBUFFERED="1")
    address_file = Path(env["GRIDDESK_SERVER_ADDRESS_FILE"])
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "run.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
        try:
            wait_until_up(port, server, log)
            written = json.loads(address_file.read_text())
            assert written == {"url": f"http://127.0.0.1:{port}/wechat", "pid": server.pid}

            said = run(env, "say", "--as", ZHANG, "电费怎么充")
            assert said.returncode == 0, said.stdout + said.stderr
            assert "缴费" in said.stdout and "已送达" in said.stdout

            # The banner's own line works exactly as printed (here with --url: the file was moved).
            printed = next(line for line in log.read_text().splitlines() if "run.py say" in line)
            words = shlex.split(printed)
            assert words[:3] == ["uv", "run", "run.py"] and f"--url http://127.0.0.1:{port}/wechat" in printed
            from_banner = run(env, *words[3:])
            assert from_banner.returncode == 0 and "报修" in from_banner.stdout
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert server.returncode == 0
    assert not address_file.exists()
    assert "Traceback" not in log.read_text()


def test_the_banner_s_say_line_needs_no_url_with_the_address_file_in_its_usual_place(settings) -> None:
    shown = banner(settings, "127.0.0.1", 5101)
    assert '    uv run run.py say --as demo-resident-zhang "卫生间水管漏水了"' in shown.splitlines()


def test_say_tells_which_url_it_tried_and_how_to_point_elsewhere(database, tmp_path, monkeypatch, capsys):
    port = free_port()
    monkeypatch.setenv("GRIDDESK_SERVER_PORT", str(port))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / "server.json").write_text(
        json.dumps({"url": "http://127.0.0.1:1/wechat", "pid": int(gone.stdout)})
    )

    assert main(["say", "--as", ZHANG, "hi"]) == 1

    out = capsys.readouterr().out
    first, hint = out.splitlines()
    # The address file's server is gone: the settings' port is tried, and said to be where it came from.
    assert first.startswith(
        f"Could not reach GridDesk at http://127.0.0.1:{port}/wechat (from the settings' server.host and "
        "server.port): "
    )
    assert "Is `uv run run.py` running?" in hint
    assert all(way in hint for way in ("--url", "GRIDDESK_SERVER_ADDRESS_FILE", "GRIDDESK_SERVER_PORT"))


def test_say_url_may_name_just_the_server(database, capsys) -> None:
    port = free_port()
    assert main(["say", "--as", ZHANG, "--url", f"http://127.0.0.1:{port}", "hi"]) == 1
    assert capsys.readouterr().out.startswith(
        f"Could not reach GridDesk at http://127.0.0.1:{port}/wechat (from --url)"
    )


def test_a_busy_port_is_refused_before_anything_starts(database, tmp_path, capsys) -> None:
    threads_before = threading.active_count()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        assert main(["serve", "--port", str(port)]) == 1

    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"port {port} on 127.0.0.1 is already in use (is GridDesk running already? `uv run run.py say` "
        "finds it); choose another with --port or GRIDDESK_SERVER_PORT"
    ]
    assert "GridDesk 网格服务台" not in out
    # Nothing started: no scheduler or replayer thread, no migration, no address file.
    assert threading.active_count() <= threads_before  # (a thread of an earlier test may end meanwhile)
    assert not (tmp_path / "griddesk.db").exists() or database.startswith("postgresql")
    assert not (tmp_path / "server.json").exists()


def test_a_reader_that_stops_early_ends_the_listing_quietly(tmp_path: Path, factory, wechat) -> None:
    for text_said in ("卫生间水管漏水了", "电费怎么充", "楼上太吵了"):
        wechat.say(ZHANG, text_said)
    env = command_env(tmp_path / "griddesk.db")
    reader, writer = os.pipe()
    os.close(reader)  # as `| head -1` does once it has its line
    try:
        listed = subprocess.run(
            [sys.executable, "run.py", "tickets", "--json"],
            cwd=ROOT,
            env=env,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(writer)
    assert listed.returncode == 1
    assert listed.stderr == ""


def test_an_import_where_every_row_is_bad_exits_1(database, tmp_path, factory, capsys) -> None:
    header = "姓名,电话,楼号,单元,房号,户别,是否独居,签到时间,家属姓名,家属关系,家属电话"
    register = tmp_path / "台账.csv"
    register.write_text(f"{header}\n钱芳,13800000113,9号楼,1,101,普通,否,,,,\n", encoding="utf-8")

    assert main(["residents", "import", str(register)]) == 1

    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "row 2: building '9号楼' is not one of the community's buildings",
        "created 0, updated 0, unchanged 0, bad 1",
    ]
    assert err.strip() == f"nothing imported from {register}: every row is bad (see above)"
    register.write_text(
        f"{header}\n钱芳,13800000113,9号楼,1,101,普通,否,,,,\n王秀英,13800000111,2号楼,1,402,特困,是,08:30,,,\n",
        encoding="utf-8",
    )
    assert main(["residents", "import", str(register)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "created 1, updated 0, unchanged 0, bad 1"


@pytest.mark.parametrize(
    "argv",
    [
        ["tickets"],
        ["outbox", "--json"],
        ["worker", "list"],
        ["worker", "invite", "--name", "周敏", "--role", "community"],
        ["staff", "list"],
        ["report"],
        ["residents", "export"],
        ["resident", "forget", "demo-resident-zhang"],
        ["retention", "run"],
        ["routing", "misses"],
        ["migrate"],
        ["scheduler"],
        ["serve", "--port", "0"],
    ],
    ids=lambda argv: " ".join(argv[:2]),
)
def test_an_unreachable_database_is_one_line_naming_its_host(argv, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", UNREACHABLE)
    monkeypatch.setenv("GRIDDESK_SPOOL_DIR", str(tmp_path / "spool"))
    if argv[0] == "serve":
        argv = ["serve", "--port", str(free_port())]

    assert main(argv) == 1

    out, err = capsys.readouterr()
    assert "GridDesk 网格服务台" not in out
    [line] = err.splitlines()
    assert line.startswith(
        "cannot use the database on 127.0.0.1:1 (postgresql+psycopg://griddesk:***@127.0.0.1:1/griddesk): "
    )
    assert "s3cret" not in out + err


def test_read_commands_migrate_nothing_and_say_what_to_run(database, capsys) -> None:
    assert main(["tickets"]) == 1
    assert capsys.readouterr().err.strip() == (
        "the database has no GridDesk tables yet: run `uv run run.py migrate` once "
        "(or start the server, `uv run run.py`, which migrates too)"
    )
    engine = make_engine(database)
    try:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        for argv in (["outbox"], ["worker", "list"], ["staff", "list"], ["report"], ["residents", "export"]):
            assert main(argv) == 1
            assert "the database schema is behind (0001; this GridDesk needs " in capsys.readouterr().err
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    finally:
        engine.dispose()


def test_migrate_prepares_a_new_database_for_the_listings(database, capsys) -> None:
    assert main(["migrate"]) == 0
    assert "is at schema" in capsys.readouterr().out
    assert main(["worker", "list"]) == 0
    assert "王芳" in capsys.readouterr().out


def test_the_tickets_and_outbox_listings_load_neither_the_orm_nor_the_models(tmp_path: Path) -> None:
    env = command_env(tmp_path / "cli.db")
    assert run_in_process(env, "migrate").returncode == 0
    probe = (
        "import sys, run\n"
        "codes = [run.main(['tickets']), run.main(['outbox', '--json'])]\n"
        "print(codes, [name for name in ('sqlalchemy.orm', 'storage.models') if name in sys.modules], "
        "file=sys.stderr)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert loaded.stderr.splitlines()[-1] == "[0, 0] []", loaded.stderr


def test_commands_on_the_database_alone_build_no_web_app_scheduler_or_wechat_client(tmp_path: Path) -> None:
    env = command_env(tmp_path / "cli.db")
    assert run_in_process(env, "migrate").returncode == 0
    probe = (
        "import sys, run\n"
        "codes = [run.main(['worker', 'list']), run.main(['staff', 'list']), run.main(['report'])]\n"
        "print(codes, [name for name in ('flask', 'apscheduler', 'wechatpy') if name in sys.modules], "
        "file=sys.stderr)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert loaded.stderr.splitlines()[-1] == "[0, 0, 0] []", loaded.stderr


def test_plain_listings_show_local_time_and_chinese_words(database, factory, wechat, capsys) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")  # 02:00 UTC on the fake clock: 10:00 in Beijing

    assert main(["tickets"]) == 0
    [ticket] = capsys.readouterr().out.splitlines()
    assert ticket.startswith(
        "#1  11-23 10:00  报修(水)  已派单  王芳  demo-resident-zhang  卫生间水管漏水了"
    )
    assert main(["outbox"]) == 0
    pushes = capsys.readouterr().out.splitlines()
    assert pushes and all("  11-23 10:00  待发送  " in line for line in pushes)
    assert any("王芳(demo-worker-wang)" in line and "工单#1" in line for line in pushes)
    assert main(["tickets", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["created"], row["category"], row["status"]) == (
        "2026-11-23T02:00:00+00:00",
        "repair",
        "assigned",
    )


def test_say_to_a_server_without_a_dispatcher_says_why_the_pushes_wait(
    database, settings, factory, classifier, capsys
) -> None:
    app = create_app(settings, factory, classifier)  # the real clock: say signs with it
    with on_loopback(app) as base:
        status = main(["say", "--as", ZHANG, "--url", f"{base}/wechat", "--wait", "0.5", "卫生间水管漏水了"])
    assert status == 0
    out = capsys.readouterr().out
    assert "· 待发送】" in out
    assert "pushes still 待发送 after 0.5 s" in out and "Is the scheduler running?" in out
