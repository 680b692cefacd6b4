"""A street deployment as production runs it: `serve --workers 2` (gunicorn) and `scheduler` as separate
processes serving two communities in sandbox mode. Each community's webhook answers over HTTP with its
own token, and the scheduler prints each community's pushes for that community's own staff; a third
community added while they run is served by every one of them without a restart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from bot.simulator import message_xml, read_reply, sign
from config.settings import load_settings
from tests.cli import run_in_process
from tests.conftest import command_env, database_url
from tests.e2e.street_support import HEPING_DEMO, HEPING_SETTINGS, HEPING_TOKEN
from tests.e2e.test_command_line import free_port, wait_until_up
from tests.e2e.test_production import started, wait_for_log

# A push as the sandbox prints it: its heading line, then its text up to the next blank line.
ANHE_TOKEN = "anhe-token-2026"
# The servers' own message when a community registered after they started is served.
NOW_SERVED = "community anhe (安和社区) added to the register: now served"
PRINTED_PUSH = re.compile(r"── 推送 → (\S+?)\((\S+?)\)\[(\w+)\] ──\n(.*?)(?=\n\n|\Z)", re.S)


def post(port: int, path: str, token: str, openid: str, text: str, msg_id: int) -> str | None:
    """A resident's text as WeChat sends it to one community's webhook, signed with its token; the reply."""
    signed = sign(token, message_xml(openid, "text", {"Content": text}, msg_id=msg_id))
    url = f"http://127.0.0.1:{port}{path}"
    response = requests.post(url, params=signed.params, data=signed.body.encode(), timeout=10)
    assert response.status_code == 200, response.text
    return read_reply(response.text, token=token)


def anhe_settings(folder: Path) -> Path:
    """A third community, 安和: 和平里's demo with people of its own, and its own token, in its own file."""
    demo = folder / "anhe.toml"
    people = {"heping-": "anhe-", "吴磊": "郑刚", "何文斌": "冯国强"}
    text = HEPING_DEMO.read_text()
    for old, new in people.items():
        text = text.replace(old, new)
    demo.write_text(text)
    settings = folder / "anhe-settings.toml"
    settings.write_text(f'[wechat]\ntoken = "{ANHE_TOKEN}"\n[paths]\ndemo = "{demo}"\n')
    return settings


@pytest.mark.slow
def test_two_communities_served_by_gunicorn_and_one_scheduler_each_push_to_their_own_staff_and_a_third_joins(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = command_env(
        tmp_path / "street.db",
        GRIDDESK_SERVER_PORT=str(port),
        GRIDDESK_DISPATCHER_INTERVAL_SECONDS="0.5",
        GRIDDESK_DELIVERY_MEDIA_DIR=str(tmp_path / "media"),
        GRIDDESK_COMMUNITIES_HEPING_WECHAT_TOKEN=HEPING_TOKEN,
        GRIDDESK_STREET_REGISTER_POLL_SECONDS="0.5",
        PYTHONUNBUFFERED="1",
    )
    added = run_in_process(
        env, "community", "add", "heping", "--name", "和平里社区",
        "--database", database_url(tmp_path / "heping.db"), "--config", str(HEPING_SETTINGS),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    main_token = load_settings(environ=env).wechat.token

    serve = ("serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port))
    # Started together, as systemd starts the two units: each migrates under the start-up lock.
    with (
        started(tmp_path, env, "web", *serve) as (web, web_log),
        started(tmp_path, env, "scheduler", "scheduler") as (_, scheduler_log),
    ):
        wait_until_up(port, web, web_log)
        wait_for_log(scheduler_log, "GridDesk scheduler:", seconds=60)
        main_reply = post(port, "/wechat", main_token, "demo-resident-liu", "卫生间水管漏水了", 9001)
        heping_reply = post(port, "/wechat/heping", HEPING_TOKEN, "heping-resident-he", "楼道灯坏了", 9001)
        # 和平里's token is no good at the first community's door.
        forged = sign(HEPING_TOKEN, message_xml("demo-resident-liu", "text", {"Content": "hi"}, msg_id=9002))
        refused = requests.post(
            f"http://127.0.0.1:{port}/wechat", params=forged.params, data=forged.body.encode(), timeout=10
        )
        wait_for_log(scheduler_log, "── 推送 → 吴磊")
        wait_for_log(scheduler_log, "── 推送 → 李骁")

        # 安和 is added while both run: each gunicorn worker and the scheduler start serving it.
        anhe = run_in_process(
            env, "community", "add", "anhe", "--name", "安和社区",
            "--database", database_url(tmp_path / "anhe.db"), "--config", str(anhe_settings(tmp_path)),
        )  # fmt: skip
        assert anhe.returncode == 0, anhe.stderr
        wait_for_log(web_log, NOW_SERVED, count=2, seconds=60)
        wait_for_log(scheduler_log, NOW_SERVED, seconds=60)
        anhe_replies = [
            post(port, "/wechat/anhe", ANHE_TOKEN, "anhe-resident-he", text, 9101 + n)
            for n, text in enumerate(("楼道灯坏了", "我的工单", "我的工单"))  # whichever worker takes them
        ]
        wait_for_log(scheduler_log, "── 推送 → 郑刚")
    assert main_reply is not None and "工单号 #1" in main_reply and "李骁" in main_reply
    assert heping_reply is not None and "工单号 #1" in heping_reply and "吴磊" in heping_reply
    assert refused.status_code == 403
    assert "within 0.5 seconds" in anhe.stdout and "restart" not in anhe.stdout
    assert anhe_replies[0] is not None and "工单号 #1" in anhe_replies[0] and "郑刚" in anhe_replies[0]
    assert all(reply is not None and "#1" in reply for reply in anhe_replies[1:])

    printed = PRINTED_PUSH.findall(scheduler_log.read_text())
    new_tickets = {openid: text for _, openid, kind, text in printed if kind == "new_ticket"}
    assert set(new_tickets) == {"demo-worker-li", "heping-worker-wu", "anhe-worker-wu"}
    assert "刘建华" in new_tickets["demo-worker-li"] and "5号楼" in new_tickets["demo-worker-li"]
    assert "何文斌" in new_tickets["heping-worker-wu"] and "3号楼" in new_tickets["heping-worker-wu"]
    assert "冯国强" in new_tickets["anhe-worker-wu"] and "3号楼" in new_tickets["anhe-worker-wu"]
    banner = scheduler_log.read_text()
    assert "和平里社区 (/wechat/heping)" in banner and "GridDesk scheduler stopped" in banner
    assert "── 推送" not in web_log.read_text()  # pushes go out from the scheduler alone
    for log in (web_log, scheduler_log):
        assert "Traceback" not in log.read_text(), log.read_text()
