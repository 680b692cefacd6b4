"""The README's walkthrough, run as written and in order against a fresh database, so it cannot drift.

The serving line runs as a real process on a port other than 5000 (the README's first command, with the
`--port` it offers); every later `uv run run.py ...` line runs through `run.main` with the same settings,
and its output must show what the README promises. `say` finds the server through the address file that
`serve` writes, exactly as it does for a reader who followed the README.
"""

from __future__ import annotations

import getpass
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import run
from tests.conftest import command_env
from tests.e2e.test_command_line import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The walkthrough ends where live-account configuration begins; what follows needs a real Official Account.
WALKTHROUGH_END = "## Pointing it at a real Official Account"
SERVE = ("uv", "run", "run.py")
PASSWORD = "readme-walkthrough-9"


@dataclass(frozen=True)
class Expect:
    """What one README line must print, its exit code, and values it prints that later lines use."""

    shows: tuple[str, ...]
    code: int = 0
    captures: dict[str, str] = field(default_factory=dict)


def expect(*shows: str, code: int = 0, captures: dict[str, str] | None = None) -> Expect:
    return Expect(shows, code, captures or {})


ZHANG, LIU, SUN = "demo-resident-zhang", "demo-resident-liu", "demo-resident-sun"
WANG, ZHAO = "demo-worker-wang", "demo-leader-zhao"
TO_WANG = "【推送 → 王芳(demo-worker-wang)· 已送达】"
TO_LI = "【推送 → 李骁(demo-worker-li)· 已送达】"
TO_ZHAO = "【推送 → 赵建国(demo-leader-zhao)· 已送达】"
TO_ZHANG = "【推送 → 张秀兰(demo-resident-zhang)· 已送达】"
TO_DUTY = "【推送 → 社区值班台(demo-community-duty)· 已送达】"

# The README's command lines in order (`uv run run.py` left out, comments cut) and what each must show.
# A line added, dropped or moved in the README without this table fails the test, and so does a reply
# that no longer says what the README promises.
WALKTHROUGH: list[tuple[str, Expect]] = [
    (
        f"say --as {ZHANG} 卫生间水管漏水了",
        expect("工单号 #1", "网格员王芳", TO_WANG, "【新工单 · 报修】 #1"),
    ),
    (f"say --as {ZHANG} 卫生间水管漏水了", expect("工单 #1 中办理", TO_WANG, "【工单补充 #1】")),
    (f"say --as {LIU} 帮忙交一下水电费", expect("缴费请求,工单号 #2", "网格员李骁", TO_LI)),
    (f"say --as {ZHANG} 降压药没有了", expect("买药请求,工单号 #3", TO_WANG)),
    (f"say --as {LIU} 想请社区医生上门看看", expect("看病就医请求,工单号 #4", TO_LI)),
    (f"say --as {ZHANG} 楼上邻居太吵了", expect("邻里纠纷请求,工单号 #5", TO_WANG)),
    (f"say --as {LIU} 低保怎么办理", expect("咨询请求,工单号 #6", TO_LI)),
    (
        f"say --as {ZHANG} 我爸在卫生间摔倒了,站不起来",
        expect("请立即拨打120", "网格长赵建国", "工单号 #7", TO_WANG, TO_ZHAO, "【紧急求助】 #7"),
    ),
    (f"say --as {SUN} 马桶不下水", expect("网格员李骁", TO_LI, "陈静不在岗,由您AB岗代办")),
    ("say --as o-newcomer 家里水管漏了", expect("工单号 #9", "社区值班台", "您还没有登记住址", TO_DUTY)),
    ("say --as o-newcomer 绑定 2号楼1单元402", expect("登记成功:2号楼1单元402", "#9 已转给网格员", TO_WANG)),
    (f"say --as {ZHANG} 我的工单", expect("#7 紧急求助", "#1 报修", "【推送】无")),
    (f"say --as {ZHANG} --voice", expect("语音", "工单号 #10", TO_WANG, "没有文字转写")),
    (f"say --as {ZHANG} --voice 电梯停了", expect("报修请求,工单号 #11", TO_WANG, "内容:电梯停了")),
    (f"say --as {ZHANG} --image", expect("照片已收到,已附在工单 #11", TO_WANG)),
    (f"say --as {ZHANG} --location 39.9,116.4,幸福里东门", expect("工单 #11", "位置:幸福里东门")),
    (f"say --as {LIU} --click MENU_SOS", expect("120", "工单号 #12", TO_LI, TO_ZHAO, "【紧急求助】 #12")),
    (f"say --as {LIU} --event subscribe", expect("欢迎关注幸福里社区网格服务台")),
    ("tickets", expect("#12  ", "  紧急求助  ", "#1  ", "  报修(水)  ")),
    ("tickets --json", expect('"number": 12', '"category": "emergency"', '"number": 1,')),
    ("outbox --json", expect('"recipient": "demo-leader-zhao"', '"status": "sent"')),
    ("echo 家里停电了,可能是电卡没钱了 | classify", expect('"category": "bill"')),
    ("classify 俺爹在厕所栽了个跟头 动弹不了", expect('"category": "emergency"', '"kind": "medical"')),
    (f"say --as {ZHANG} 急 快点来", expect("已催促网格员王芳", TO_WANG, "【居民催促】", "10分钟内")),
    (
        f"say --as {LIU} 我好害怕 有人吗",
        expect(
            "120", "网格员李骁", TO_LI, "【可能紧急", captures={"<the number it printed>": r"工单号 #(\d+)"}
        ),
    ),
    (
        f"say --as {ZHAO} 改类 <the number it printed> 紧急求助",
        expect("改为紧急求助", TO_LI, TO_ZHAO, "【推送 → 刘建华(demo-resident-liu)· 已送达】"),
    ),
    ("routing misses", expect("我好害怕 有人吗\temergency")),
    ("routing check", expect("routing-heldout.tsv", "emergencies caught")),
    (f"say --as {WANG} 签收 1", expect("已签收工单 #1", TO_ZHANG, "网格员王芳签收")),
    (f"say --as {WANG} 进度 1 已联系物业,下午来修", expect(TO_ZHANG, "已联系物业,下午来修")),
    (f"say --as {WANG} 延期 1 24 等配件", expect("已延期到", TO_ZHAO, TO_ZHANG, "等配件")),
    (f"say --as {WANG} 办结 1 阀门已更换", expect("已办结", TO_ZHANG, "回复 1 满意")),
    (f"say --as {ZHANG} 1", expect("感谢您的评价", TO_WANG, "满意")),
    (f"say --as {WANG} 退单 5 需要派出所协调", expect("已退回工单 #5", TO_ZHAO, "被网格员王芳退回")),
    (f"say --as {ZHAO} 转派 5 李骁", expect("已把工单 #5 转派给网格员李骁", TO_LI, TO_ZHANG)),
    (f"say --as {WANG} 下班", expect("已下班", "AB岗李骁")),
    (f"say --as {WANG} 我的工单", expect("#7 紧急求助", "#3 买药", "#10 留言")),
    (f"say --as {ZHANG} 取消 3", expect("工单 #3 已取消", TO_WANG)),
    (
        "worker invite --name 周敏 --grid G1 --backup 李骁 --phone 13900000009 --replace",
        expect("周敏", captures={"<the code it printed>": r"绑定 ([0-9A-Z]{6,})"}),
    ),
    ("say --as o-zhoumin 绑定 <the code it printed>", expect("绑定成功", "您接替王芳负责第一网格", "#7")),
    ("worker list", expect('"name": "周敏"', '"grids": ["G1"]')),
    ("worker invite --name 王芳 --new-wechat", expect("code for 王芳")),
    ("worker leave --name 王芳 --to 周敏", expect("王芳 has left", "nothing more is sent to them")),
    ("residents import config/register-template.csv", expect("bad 0", "#1 2号楼1单元402")),
    ("residents export register.xlsx", expect("register.xlsx")),
    ("say --as o-zhoumin 确认绑定 1", expect("已确认绑定 #1", "【推送 → 王秀英(o-newcomer)· 已送达】")),
    ("say --as o-zhoumin 走访 3号楼2单元301 身体不错", expect("已记录走访:张秀兰")),
    (
        "say --as o-zhoumin 家属码 3号楼2单元301 女儿",
        expect("张秀兰的家属码:", "(给女儿)", captures={"<the family code>": r"关注 ([A-Z2-9]{8})"}),
    ),
    (
        "say --as o-zhangli 关注 <the family code>",
        expect("绑定成功!您已关注家人张秀兰的平安问候", TO_ZHANG, "【家属关注】"),
    ),
    ("residents family-code --address 3号楼2单元301", expect("张秀兰的家属码:", "24小时内有效")),
    (f"say --as {ZHANG} 我的家属", expect("有1位家属关注您的平安问候", "1. 女儿(", "解除家属 1")),
    ("retention run", expect("retention:", "erased")),
    (f"resident forget {LIU}", expect("would erase", "--yes", code=1)),
    (f"resident forget {LIU} --yes --by 周敏", expect("已删除的居民", "stays open for its worker")),
    ("backup var/backups/", expect("var/backups/griddesk-")),
    ("staff add --name 赵建国 --login zhao --role leader", expect("'zhao' created (leader)")),
    ("staff add --name 周敏 --login zhoumin --role worker", expect("'zhoumin' created (worker)")),
    ("staff list", expect('"login": "zhao"', '"login": "zhoumin"')),
]


@dataclass(frozen=True)
class Step:
    """One README command line: its words after `uv run run.py`, and what a pipe feeds it."""

    argv: tuple[str, ...]
    stdin: str | None = None

    @property
    def key(self) -> str:
        """The line as the table above names it."""
        words = " ".join(self.argv)
        return words if self.stdin is None else f"echo {self.stdin.strip()} | {words}"


def readme_steps(text: str) -> list[Step]:
    """The `uv run run.py` lines of the README's shell blocks before the live-account part, in order."""
    walkthrough = text.split(WALKTHROUGH_END)[0]
    steps = []
    for block in re.findall(r"```sh\n(.*?)```", walkthrough, re.S):
        for line in block.splitlines():
            step = _step(shlex.split(line, comments=True))
            if step is not None:
                steps.append(step)
    return steps


def _step(words: list[str]) -> Step | None:
    stdin = None
    if "|" in words:
        pipe = words.index("|")
        assert words[0] == "echo", words
        stdin, words = " ".join(words[1:pipe]) + "\n", words[pipe + 1 :]
    if tuple(words[: len(SERVE)]) != SERVE:
        return None
    return Step(tuple(words[len(SERVE) :]), stdin)


def _is_serve(step: Step) -> bool:
    return not step.argv or step.argv[0] in ("serve", "--port")


def walkthrough_steps() -> list[Step]:
    return [step for step in readme_steps(README.read_text()) if not _is_serve(step)]


def test_every_readme_line_has_its_expectation_in_order() -> None:
    assert [step.key for step in walkthrough_steps()] == [key for key, _ in WALKTHROUGH]


def test_the_readme_offers_a_port_other_than_5000() -> None:
    serving = [step.argv for step in readme_steps(README.read_text()) if _is_serve(step)]
    assert ("--port", "5101") in [tuple(argv[-2:]) for argv in serving]


@pytest.fixture
def walkthrough_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The README's serving line on a free port (never 5000), with this test's settings in the environment."""
    env = command_env(
        tmp_path / "readme.db",
        GRIDDESK_SERVER_ADDRESS_FILE=str(tmp_path / "server.json"),
        GRIDDESK_SPOOL_DIR=str(tmp_path / "spool"),
        GRIDDESK_DELIVERY_MEDIA_DIR=str(tmp_path / "media"),
        # Pushes leave sooner than the default 2 s, so each `say` waits less for "已送达".
        GRIDDESK_DISPATCHER_INTERVAL_SECONDS="0.5",
        PYTHONUNBUFFERED="1",
    )
    for name, value in env.items():
        if name.startswith("GRIDDESK_"):
            monkeypatch.setenv(name, value)
    port = free_port()
    assert port != 5000
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "run.py", "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            wait_until_up(port, process, log_path)
            # The README's relative paths (config/..., register.xlsx, var/backups/) from a scratch folder.
            work = tmp_path / "work"
            work.mkdir()
            (work / "config").symlink_to(ROOT / "config")
            monkeypatch.chdir(work)
            yield log_path
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert "Traceback" not in log_path.read_text()


@pytest.mark.slow
def test_the_readme_walkthrough_runs_as_written(
    walkthrough_server: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": PASSWORD)
    captured: dict[str, str] = {}
    for step, (key, wanted) in zip(walkthrough_steps(), WALKTHROUGH, strict=True):
        assert step.key == key
        monkeypatch.setattr(sys, "stdin", io.StringIO(step.stdin or ""))
        code = run.main([_fill(word, captured) for word in step.argv])
        out = capsys.readouterr()
        output = out.out + out.err
        assert code == wanted.code, f"{key}\n{output}"
        missing = [words for words in wanted.shows if words not in output]
        assert not missing, f"{key}\nmissing {missing} in:\n{output}"
        for placeholder, pattern in wanted.captures.items():
            found = re.search(pattern, output)
            assert found, f"{key}: nothing like {pattern!r} in:\n{output}"
            captured[placeholder] = found.group(1)


def _fill(word: str, captured: dict[str, str]) -> str:
    for placeholder, value in captured.items():
        word = word.replace(placeholder, value)
    return word
