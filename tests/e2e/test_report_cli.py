"""`run.py report`, run as the community office would: a real database with real tickets, real files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from tests.cli import Ran, run_in_process
from tests.conftest import command_env
from tests.support import FakeClock, WeChatServer

ZHANG, LIU, SUN, WANG = "demo-resident-zhang", "demo-resident-liu", "demo-resident-sun", "demo-worker-wang"


def run(env: dict[str, str], *args: str) -> Ran:
    """One command-line call, as a user would type it (in-process: tests/cli.py)."""
    return run_in_process(env, *args)


@pytest.fixture
def env(tmp_path: Path, wechat: WeChatServer, clock: FakeClock) -> dict[str, str]:
    """The demo community's database (the `factory` fixture's) with a Monday's tickets in it."""

    def at(local_time: str, openid: str, text: str) -> None:
        moment = datetime.fromisoformat(f"2026-11-23 {local_time}").replace(tzinfo=ZoneInfo("Asia/Shanghai"))
        clock.now = moment.astimezone(UTC)
        assert wechat.say(openid, text)

    at("10:00", ZHANG, "卫生间水管漏水了")  # G1, signed, resolved and rated 满意 within the hour
    at("10:05", WANG, "签收 1")
    at("10:30", WANG, "办结 1 阀门已更换")
    at("10:35", ZHANG, "1")
    at("12:00", LIU, "帮忙交一下水电费")  # G2
    at("23:30", SUN, "马桶不下水")  # G3, still Monday in Beijing
    return command_env(tmp_path / "griddesk.db")


def test_a_grid_s_day_printed_in_chinese(env) -> None:
    printed = run(env, "report", "--period", "day", "--date", "2026-11-23", "--grid", "G1")
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0] == "【日报】第一网格 · 2026年11月23日" and lines[1].startswith("统计时间:")
    assert lines[2:7] == [
        "工单:新增1件(其中已取消0件),办结1件",
        "  报修:新增1件,办结1件",
        "响应率:100%(按时签收1件 / 应签收1件)",
        "解决率:100%(按期办结1件 / 应办结1件)",
        "满意率:100%(满意和基本满意1件 / 评价1件)",
    ]
    assert "当前超期:0件" in lines and "敲门任务:0件" in lines


def test_the_community_s_day_counts_23_30_local_as_that_day(env) -> None:
    printed = run(env, "report", "--date", "2026-11-23")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("【日报】幸福里社区 · 2026年11月23日\n")
    assert "工单:新增3件(其中已取消0件),办结1件" in printed.stdout
    assert "  报修:新增2件,办结1件\n  缴费:新增1件,办结0件\n" in printed.stdout
    tuesday = run(env, "report", "--date", "2026-11-24")
    assert "工单:新增0件(其中已取消0件),办结0件" in tuesday.stdout


def test_a_week_as_xlsx_has_the_community_and_every_grid(tmp_path, env) -> None:
    workbook = tmp_path / "周报.xlsx"
    written = run(env, "report", "--period", "week", "--date", "2026-11-29", "--xlsx", str(workbook))
    assert written.returncode == 0, written.stderr
    assert written.stdout == ""
    assert f"wrote 4 reports (2026年第48周(11月23日–11月29日)) to {workbook}" in written.stderr
    rows = list(openpyxl.load_workbook(workbook)["汇总"].iter_rows(values_only=True))
    header = rows[0]
    opened = {row[0]: row[header.index("新增工单")] for row in rows[1:]}
    assert opened == {"幸福里社区": 3, "第一网格": 1, "第二网格": 1, "第三网格": 1}
    community = dict(zip(header, rows[1], strict=True))
    assert (community["评价数"], community["满意率"]) == (1, 1.0)


def test_today_by_default_and_mistakes_exit_2(env) -> None:
    today = run(env, "report", "--period", "month")
    assert today.returncode == 0 and today.stdout.startswith("【月报】幸福里社区 · "), today.stderr
    unknown = run(env, "report", "--grid", "G9")
    assert (unknown.returncode, unknown.stderr.strip()) == (2, "unknown grid: G9")
    bad = run(env, "report", "--date", "2026-13-01")
    assert bad.returncode == 2 and "not a date (YYYY-MM-DD): '2026-13-01'" in bad.stderr


def test_dates_at_the_ends_of_the_calendar_exit_2_with_a_reason(env) -> None:
    for day, period in (("0001-01-01", "day"), ("0001-01-07", "week"), ("9999-12-31", "month")):
        refused = run(env, "report", "--period", period, "--date", day)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert f"{day} is out of range: reports cover 1970-01-01 to 2999-12-31" in refused.stderr
    assert run(env, "report", "--period", "week", "--date", "2999-12-31").returncode == 0
