"""`run.py residents import/export`, run as a grid worker's office would: real files, a real database."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from run import main
from storage.db import transaction
from storage.models import FamilyContact
from tests.cli import Ran, run_in_process
from tests.conftest import command_env
from tests.e2e.test_checkin_conversations import desk  # noqa: F401  (the fixture)
from tests.integration.test_checkins import CheckInDesk
from tests.integration.test_register import ROW, bomb_xlsx

ROOT = Path(__file__).resolve().parents[2]
HEADER = "姓名,电话,楼号,单元,房号,户别,是否独居,签到时间,家属姓名,家属关系,家属电话"


def run(env: dict[str, str], *args: str) -> Ran:
    """One command-line call, as a user would type it (in-process: tests/cli.py)."""
    return run_in_process(env, *args)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh sandbox database (the demo community is loaded on first use), ignoring the developer's."""
    return command_env(tmp_path / "register.db")


def test_import_reports_bad_rows_and_a_second_import_changes_nothing(tmp_path, env) -> None:
    register = tmp_path / "台账.csv"
    rows = [
        HEADER,
        "王秀英,13800000111,2号楼,1,402,特困,是,08:30,李强,儿子,13800000211",
        "赵德明,13800001234567,六号楼,2,1101,普通,否,,,,",
        "钱芳,13800000113,9号楼,1,101,普通,否,,,,",
    ]
    register.write_text("\n".join(rows) + "\n", encoding="gb18030")

    first = run(env, "residents", "import", str(register))

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "row 3: phone '138****4567' is not a phone number (a mobile, or a landline with its area code)",
        "row 4: building '9号楼' is not one of the community's buildings",
        "created 1, updated 0, unchanged 0, bad 2",
    ]
    assert "13800001234567" not in first.stdout + first.stderr
    again = run(env, "residents", "import", str(register))
    assert again.stdout.splitlines()[-1] == "created 0, updated 0, unchanged 1, bad 2"


def test_emergency_contact_columns_get_the_family_the_missed_check_in_alert(
    tmp_path,
    desk: CheckInDesk,  # noqa: F811
    monkeypatch,
    capsys,
) -> None:
    """孙桂英 lives alone with no family on file; her worker's sheet names her daughter as staff write it."""
    register = tmp_path / "独居老人台账.csv"
    register.write_text(
        "姓名,楼栋,单元,门牌号,是否独居,紧急联系人,关系,联系人电话,备注,微信openid\n"
        "孙桂英,7栋,1,101,是,孙丽,女儿,139 0000 0333,腿脚不便,demo-resident-sun\n",
        encoding="utf-8-sig",
    )
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", desk.settings.database_url)

    assert main(["residents", "import", str(register)]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "未识别的列:备注(不是台账的列,已忽略)",
        "created 0, updated 1, unchanged 0, bad 0",
    ]
    desk.at("09:00", day=1)
    desk.pings()
    desk.at("11:00", day=1)
    desk.reminders()
    desk.at("13:00", day=1)
    desk.new_pushes()
    desk.knocks()
    sent = desk.new_pushes()
    [alert] = [push for push in sent if push.kind == "family_alert" and "孙桂英" in push.text]
    with transaction(desk.factory) as session:
        daughter = session.scalars(select(FamilyContact).where(FamilyContact.name == "孙丽")).one()
        assert (daughter.relation, daughter.phone) == ("女儿", "13900000333")
        assert alert.recipient == f"family:{daughter.id}"  # the SMS channel's address for her phone
    assert alert.recipient_name == "孙丽"
    [task] = [push for push in sent if push.kind == "new_ticket" and "7号楼1单元101" in push.text]
    assert "家属:孙丽(女儿)13900000333" in task.text  # the worker can call her too


def test_export_to_stdout_and_xlsx_round_trips(tmp_path, env) -> None:
    template = ROOT / "config" / "register-template.csv"
    assert run(env, "residents", "import", str(template)).stdout.endswith(
        "created 2, updated 0, unchanged 0, bad 0\n"
    )

    printed = run(env, "residents", "export")
    workbook = tmp_path / "export.xlsx"
    saved = run(env, "residents", "export", str(workbook))
    reimported = run(env, "residents", "import", str(workbook))

    header, *rows = list(csv.reader(io.StringIO(printed.stdout)))
    assert header == next(csv.reader(io.StringIO(template.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 3 + 2 and {"王秀英", "赵德明", "张秀兰"} <= {row[0] for row in rows}
    assert saved.returncode == 0 and f"wrote 5 residents to {workbook}" in saved.stderr
    assert reimported.stdout.splitlines() == ["created 0, updated 0, unchanged 5, bad 0"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        ("备注\n随便写的\n".encode(), "no header row with at least 姓名, 楼号 and 房号"),
    ],
)
def test_an_unreadable_file_exits_2(tmp_path, env, content, message) -> None:
    register = tmp_path / "register.csv"
    if content is not None:
        register.write_bytes(content)

    result = run(env, "residents", "import", str(register))

    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_zip_bomb_workbook_is_refused_in_one_line_and_nothing_is_imported(tmp_path, env) -> None:
    """A few hundred KB that unpack to 146 MB (the attack took 10 minutes and more): refused unread."""
    bomb = bomb_xlsx(tmp_path / "台账.xlsx", rows=1_500_000, row_xml=ROW)
    assert run(env, "migrate").returncode == 0  # `residents export` only reads: it prepares no database
    before = run(env, "residents", "export").stdout

    refused = run(env, "residents", "import", str(bomb))

    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"cannot import {bomb}: refused: the file holds 146 MB of data, more than 100 MB"
    ]
    assert run(env, "residents", "export").stdout == before
    allowed_more = {**env, "GRIDDESK_REGISTER_MAX_EXPANDED_MB": "200"}
    packed = run(allowed_more, "residents", "import", str(bomb))
    assert packed.returncode == 2 and "xl/worksheets/sheet1.xml unpacks" in packed.stderr


def test_a_live_community_is_loaded_from_a_file(tmp_path: Path) -> None:
    community = tmp_path / "community.toml"
    community.write_text(
        '[[workers]]\nopenid = "o-w1"\nname = "周敏"\nrole = "worker"\n\n'
        '[[grids]]\ncode = "A1"\nname = "东区一网格"\nworker = "o-w1"\nbuildings = ["11号楼"]\n',
        encoding="utf-8",
    )
    # A secret means live mode: the demo community is not seeded, so only the file's grids exist.
    live = command_env(tmp_path / "live.db", GRIDDESK_WECHAT_SECRET="s")
    loaded = run(live, "community", "load", str(community))
    assert loaded.returncode == 0, loaded.stderr
    staff = run(live, "worker", "list").stdout
    assert '"name": "周敏"' in staff and '"grids": ["A1"]' in staff and "王芳" not in staff
    broken = tmp_path / "broken.toml"
    broken.write_text("[[grids]]\ncode = 1\n", encoding="utf-8")
    failed = run(live, "community", "load", str(broken))
    assert failed.returncode == 2 and "cannot load" in failed.stderr
