"""A community added while the street runs is served without a restart (docs/tenancy.md).

The street is opened as `serve` opens it with only the first community registered; 和平里 is then added
with `run.py community add` in-process, and the running street picks it up from the register: its
webhook answers at /wechat/heping, its console is under /c/heping. One whose settings fail the checks is
logged once and left out, and the others keep answering.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import Client

import run
from bot.street import Street, open_street
from config.communities import CommunityEntry
from config.settings import load_settings
from handlers.language.intents import IntentClassifier
from tests.conftest import DemoTemplates, database_url
from tests.e2e.street_support import HEPING_APPID, HEPING_SECRET, HEPING_SETTINGS, street_office, webhook
from tests.support import FakeClock

LEAK = "卫生间水管漏水了"
POLL_SECONDS = "0.1"
MAIN_APPID = "wx0123456789abcdef"


@pytest.fixture
def lone_street(
    street_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
    classifier: IntentClassifier,
    demo_templates: DemoTemplates,
) -> Iterator[Street]:
    """The first community alone, served as `serve` serves it, looking at the register every 0.1 s."""
    street = opened_alone(street_environment, monkeypatch, clock, classifier, demo_templates)
    try:
        yield street
    finally:
        street.close()


@pytest.fixture
def live_lone_street(
    street_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
    classifier: IntentClassifier,
    demo_templates: DemoTemplates,
) -> Iterator[Street]:
    """As lone_street, the first community live on its Official Account (nothing is sent here)."""
    live = {"GRIDDESK_WECHAT_APPID": MAIN_APPID, "GRIDDESK_WECHAT_SECRET": "main-app-secret"}
    street = opened_alone(street_environment, monkeypatch, clock, classifier, demo_templates, live)
    try:
        yield street
    finally:
        street.close()


def opened_alone(
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
    classifier: IntentClassifier,
    demo_templates: DemoTemplates,
    extra: dict[str, str] | None = None,
) -> Street:
    """The street of `environment` with only its first community registered, its app built.

    和平里's token variable is taken out: a process started before 和平里 was registered cannot have it
    (start-up refuses a variable naming no community), so 和平里's token is its settings file's.
    """
    del environment["GRIDDESK_COMMUNITIES_HEPING_WECHAT_TOKEN"]
    monkeypatch.delenv("GRIDDESK_COMMUNITIES_HEPING_WECHAT_TOKEN")
    for name, value in {"GRIDDESK_STREET_REGISTER_POLL_SECONDS": POLL_SECONDS, **(extra or {})}.items():
        environment[name] = value
        monkeypatch.setenv(name, value)
    settings = load_settings(environ=environment)
    demo_templates.copy_into(settings, clock())
    street = open_street(settings, environ=environment, clock=clock, classifier=classifier).prepare()
    street.app  # noqa: B018 (built before a community is added, as a running server's is)
    return street


def add_heping(
    tmp_path: Path,
    street_environment: dict[str, str],
    clock: FakeClock,
    heping_templates: DemoTemplates,
    config_file: Path = HEPING_SETTINGS,
) -> None:
    """`run.py community add heping ...` in-process, its database a copy of its migrated demo."""
    heping_db = database_url(tmp_path / "heping.db")
    entry = CommunityEntry("heping", "和平里社区", heping_db, config_file)
    heping_templates.copy_into(load_settings(environ=street_environment, community=entry), clock())
    argv = ["community", "add", "heping", "--name", "和平里社区", "--database", heping_db]
    assert run.main([*argv, "--config", str(config_file)]) == 0


def wait_until_served(street: Street, slug: str, seconds: float = 30.0) -> None:
    """Wait for the street's own look at the register to serve `slug` (a few tenths of a second)."""
    deadline = time.monotonic() + seconds
    while slug not in street.runtimes:
        assert time.monotonic() < deadline, f"{slug} not served after {seconds} s: {street.not_served}"
        time.sleep(0.05)


def test_a_community_added_while_the_street_runs_answers_at_its_webhook_without_a_restart(
    lone_street: Street,
    tmp_path: Path,
    street_environment: dict[str, str],
    clock: FakeClock,
    heping_templates: DemoTemplates,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = Client(lone_street.app)
    assert client.post("/wechat/heping", data=b"<xml/>").status_code == 404
    lone_street.start_watching()

    add_heping(tmp_path, street_environment, clock, heping_templates)
    added = capsys.readouterr().out
    wait_until_served(lone_street, "heping")

    assert "start serving it within 0.1 seconds" in added and "restart" not in added
    heping_reply = webhook(lone_street, "heping", clock, client).say("heping-resident-he", "楼道灯坏了")
    assert "工单号 #1" in heping_reply and "吴磊" in heping_reply  # 和平里's own grid worker and numbering
    home_reply = webhook(lone_street, "main", clock, client).say("demo-resident-liu", LEAK)
    assert "工单号 #1" in home_reply and "李骁" in home_reply
    assert client.get("/c/heping/console/signin").status_code == 200
    overview = street_office(lone_street, clock).get("/console/street").get_data(as_text=True)
    assert "和平里社区" in overview and "暂未启用" not in overview


def test_a_community_failing_its_checks_is_logged_once_and_left_out_while_the_others_answer(
    lone_street: Street,
    tmp_path: Path,
    street_environment: dict[str, str],
    clock: FakeClock,
    heping_templates: DemoTemplates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    own = tmp_path / "heping-settings.toml"
    good = HEPING_SETTINGS.read_text()
    own.write_text(good)
    add_heping(tmp_path, street_environment, clock, heping_templates, config_file=own)
    # Spoilt after the command checked it, before the running street looked.
    own.write_text(good + '\n[checkins]\ndefault_time = "9点"\n')
    client = Client(lone_street.app)

    with caplog.at_level(logging.INFO, logger="griddesk"):
        assert lone_street.add_registered() == []
        assert lone_street.add_registered() == []  # every look finds it again; it is said once

    refusals = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(refusals) == 1, refusals
    assert refusals[0].startswith("community heping (和平里社区) is registered but not served: ")
    assert "checkins.default_time" in refusals[0]
    assert client.post("/wechat/heping", data=b"<xml/>").status_code == 404
    assert "工单号 #1" in webhook(lone_street, "main", clock, client).say("demo-resident-liu", LEAK)
    overview = street_office(lone_street, clock).get("/console/street").get_data(as_text=True)
    assert "已登记但暂未启用:和平里社区" in overview

    own.write_text(good)  # put right: the next look serves it
    assert lone_street.add_registered() == ["heping"]
    heping_reply = webhook(lone_street, "heping", clock, client).say("heping-resident-he", "楼道灯坏了")
    assert "工单号 #1" in heping_reply


def test_a_community_whose_own_account_the_running_processes_cannot_see_is_not_served(
    live_lone_street: Street,
    tmp_path: Path,
    street_environment: dict[str, str],
    clock: FakeClock,
    heping_templates: DemoTemplates,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The operator's shell has 和平里's Official Account; the processes started before it do not, so
    # there 和平里 would answer and push as the first community's account.
    monkeypatch.setenv("GRIDDESK_COMMUNITIES_HEPING_WECHAT_APPID", HEPING_APPID)
    monkeypatch.setenv("GRIDDESK_COMMUNITIES_HEPING_WECHAT_SECRET", HEPING_SECRET)
    add_heping(tmp_path, street_environment, clock, heping_templates)
    added = capsys.readouterr().out

    with caplog.at_level(logging.ERROR, logger="griddesk"):
        assert live_lone_street.add_registered() == []

    assert "they do not see GRIDDESK_COMMUNITIES_HEPING_WECHAT_APPID ... until they restart" in added
    [refusal] = [r.getMessage() for r in caplog.records]
    assert refusal.startswith("community heping (和平里社区) is registered but not served: wechat.appid is ")
    assert "community main's" in refusal
    assert "read only when it restarts" in refusal
    assert Client(live_lone_street.app).post("/wechat/heping", data=b"<xml/>").status_code == 404
