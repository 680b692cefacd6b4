"""Two communities of one street deployment kept apart in everything (issue 17): conversations, photos,
escalations, check-ins, reports, exports, Open311, the command line and backups. No row of one community shows
up in the other's pushes, pages, files or answers."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, time, timedelta
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.street import Street
from tests.cli import run_in_process
from tests.conftest import ON_POSTGRESQL, command_env, pushes, tickets
from tests.e2e.console_support import PASSWORD, deliver, text
from tests.e2e.street_support import HEPING_APPID, STREET_CONSOLE, browser, sign_in_at, webhook
from tests.fakewechat import FakeWeChat
from tests.support import FakeClock, WeChatServer, on_loopback

# The first community's (config/demo.toml) and 和平里's (config/examples/heping.toml) people.
# 5号楼 is 第二网格's (李骁, backed up by 王芳); 3号楼 和平二网格's (吴磊, backed up by 周敏).
LIU, LI, WANG = "demo-resident-liu", "demo-worker-li", "demo-worker-wang"
HE, WU, ZHOU = "heping-resident-he", "heping-worker-wu", "heping-worker-zhou"
SUN = "demo-resident-sun"  # 7号楼, 第三网格
ZHANG, MA = "demo-resident-zhang", "heping-resident-ma"  # living alone: 3号楼 (王芳), 1号楼 (周敏)
STAFF = ("leader-zhao", "worker-wang", "worker-li", "worker-chen", "community-duty")
MAIN_STAFF = {f"demo-{who}" for who in STAFF}
HEPING_STAFF = {f"heping-{who}" for who in ("leader-qian", "worker-zhou", "worker-wu", "community-duty")}
BEIJING = ZoneInfo("Asia/Shanghai")
# The city's 12345 platform has a key for each community's Open311.
MAIN_KEY, HEPING_KEY = "main-key-2026-abcdef", "heping-key-2026-fedcba"
MAIN_LEAK, HEPING_LEAK = "卫生间水管漏水了", "厨房水管漏水了,地上全是水"


@pytest.fixture
def street_environment(street_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The street's environment with each community's Open311 keys and the deployment's public address."""
    more = {
        "GRIDDESK_OPEN311_API_KEYS": f"city12345:{MAIN_KEY}",
        "GRIDDESK_COMMUNITIES_HEPING_OPEN311_API_KEYS": f"city12345:{HEPING_KEY}",
        "GRIDDESK_OPEN311_PUBLIC_BASE_URL": STREET_CONSOLE,
        "GRIDDESK_REPORTS_CONSOLE_BASE_URL": STREET_CONSOLE,
    }
    for name, value in more.items():
        monkeypatch.setenv(name, value)
    return street_environment | more


def on_wechat(street: Street, slug: str, clock: FakeClock, fake: FakeWeChat) -> WeChatServer:
    """A community's webhook as WeChat calls it; the fake WeChat hears each message (it opens windows)."""
    phone = webhook(street, slug, clock)
    phone.listeners.append(fake.heard)
    return phone


def run_job(street: Street, slug: str, job: str) -> None:
    """Run one of a community's scheduler jobs once, as its scheduler would (bot/scheduler.py)."""
    street.runtime(slug).scheduler.get_job(job).func()


def recipients(street: Street, slug: str) -> set[str]:
    """Everyone a community's outbox has a push for."""
    return {push.recipient for push in pushes(street.runtime(slug).factory)}


def delivered(fake: FakeWeChat, openid: str) -> list[tuple[str, str]]:
    """(the account whose token it came with, its text) of each message the fake delivered to `openid`."""
    return [(sent.appid, json.dumps(sent.payload, ensure_ascii=False)) for sent in fake.sent_to(openid)]


def test_each_community_talks_with_its_own_residents_and_keeps_their_photos_apart(
    live_street: Street, street_wechat: FakeWeChat, clock: FakeClock, tmp_path: Path
) -> None:
    home = on_wechat(live_street, "main", clock, street_wechat)
    heping = on_wechat(live_street, "heping", clock, street_wechat)

    assert "工单号 #1" in home.say(LIU, MAIN_LEAK)
    assert "工单号 #1" in heping.say(HE, HEPING_LEAK)
    street_wechat.add_media("main-photo", b"\xff\xd8\xff\xe0 main's jpeg", "image/jpeg", "a.jpg")
    street_wechat.add_media("heping-photo", b"\xff\xd8\xff\xe0 heping's jpeg", "image/jpeg", "b.jpg")
    home.post(LIU, "image", PicUrl="http://example.invalid/a.jpg", MediaId="main-photo")
    heping.post(HE, "image", PicUrl="http://example.invalid/b.jpg", MediaId="heping-photo")

    mine = home.say(LIU, "我的工单")
    theirs = heping.say(HE, "我的工单")
    assert "1个正在办理" in mine and "网格员李骁" in mine and "吴磊" not in mine
    assert "1个正在办理" in theirs and "网格员吴磊" in theirs and "李骁" not in theirs

    for slug in ("main", "heping"):
        run_job(live_street, slug, "media-downloads")
    media = tmp_path / "media"
    assert (media / "main-photo.jpg").read_bytes().endswith(b"main's jpeg")
    assert (media / "heping" / "heping-photo.jpg").read_bytes().endswith(b"heping's jpeg")
    assert sorted(p.name for p in media.rglob("*.jpg")) == ["heping-photo.jpg", "main-photo.jpg"]
    main_ticket, heping_ticket = (
        tickets(live_street.runtime("main").factory),
        tickets(live_street.runtime("heping").factory),
    )
    assert [t.assignee.name for t in main_ticket] == ["李骁"]
    assert [t.assignee.name for t in heping_ticket] == ["吴磊"]

    # Each worker closes their own community's #1, and each resident rates their own.
    assert "已签收工单 #1" in home.say(LI, "签收 1")
    assert "已签收工单 #1" in heping.say(WU, "签收 1")
    assert "已请居民评价" in home.say(LI, "办结 1 阀门已更换")
    assert "已请居民评价" in heping.say(WU, "办结 1 水管已修好")
    assert "感谢您的评价" in home.say(LIU, "1")
    assert "已重新交给吴磊处理" in heping.say(HE, "3")
    [main_done] = tickets(live_street.runtime("main").factory)
    [heping_done] = tickets(live_street.runtime("heping").factory)
    assert (main_done.status, main_done.rating) == ("closed", 1)
    assert (heping_done.status, heping_done.assignee.name) == ("reopened", "吴磊")  # unsatisfied
    assert recipients(live_street, "main").isdisjoint(HEPING_STAFF | {HE})
    assert recipients(live_street, "heping").isdisjoint(MAIN_STAFF | {LIU})


def test_each_community_escalates_to_its_own_staff_through_its_own_account(
    live_street: Street, street_wechat: FakeWeChat, clock: FakeClock
) -> None:
    home = on_wechat(live_street, "main", clock, street_wechat)
    heping = on_wechat(live_street, "heping", clock, street_wechat)
    home.say(LIU, MAIN_LEAK)
    heping.say(HE, HEPING_LEAK)

    clock.advance(hours=3)  # nobody signed for either repair
    for slug in ("main", "heping"):
        run_job(live_street, slug, "deadline-sweep")
    main_pushes, heping_pushes = (pushes(live_street.runtime(s).factory) for s in ("main", "heping"))
    # Unsigned: each ticket climbs to its own community's AB岗 backup.
    assert [p.recipient for p in main_pushes if p.kind == "escalation"] == [WANG]
    assert [p.recipient for p in heping_pushes if p.kind == "escalation"] == [ZHOU]
    assert recipients(live_street, "main").isdisjoint(HEPING_STAFF | {HE})
    assert recipients(live_street, "heping").isdisjoint(MAIN_STAFF | {LIU})

    for slug in ("main", "heping"):
        run_job(live_street, slug, "dispatch-outbox")
    to_wang, to_zhou = delivered(street_wechat, WANG), delivered(street_wechat, ZHOU)
    assert [appid for appid, text in to_wang if "升级督办" in text] == [street_wechat.appid]
    assert [appid for appid, text in to_zhou if "升级督办" in text] == [HEPING_APPID]
    assert any("5号楼" in text for _, text in to_wang) and not any("3号楼" in text for _, text in to_wang)
    assert any("3号楼" in text for _, text in to_zhou) and not any("5号楼" in text for _, text in to_zhou)
    # Staff's template messages open their own community's console.
    links = {sent.to: sent.payload.get("url", "") for sent in street_wechat.sent if sent.api == "template"}
    assert links[ZHOU].startswith(f"{STREET_CONSOLE}/c/heping/console/tickets/")
    assert links[WANG].startswith(f"{STREET_CONSOLE}/console/tickets/")
    # Every message of each community went with its own account's token: the workers' new tickets too.
    accounts = {(sent.to.split("-")[0], sent.appid) for sent in street_wechat.sent}
    assert accounts == {("demo", street_wechat.appid), ("heping", HEPING_APPID)}


def test_each_communitys_elder_is_pinged_and_a_silent_one_knocked_on_by_their_own_worker(
    street: Street, clock: FakeClock
) -> None:
    # Yesterday each elder living alone wrote in: today's ping may go as a customer-service message.
    webhook(street, "main", clock).say(ZHANG, "你好")
    webhook(street, "heping", clock).say(MA, "你好")

    clock.advance(hours=23)  # 09:00 the next morning, both communities' check-in time
    for slug in ("main", "heping"):
        run_job(street, slug, "checkin-pings")
    pinged = {slug: checkin_pushes(street, slug, "今天身体还好吗") for slug in ("main", "heping")}
    assert ZHANG in pinged["main"] and MA not in pinged["main"]
    assert set(pinged["heping"]) == {MA} and "和平里社区问候您" in pinged["heping"][MA][0]
    assert "和平里" not in pinged["main"][ZHANG][0]

    clock.advance(hours=2)  # 11:00: silent, so a reminder
    for slug in ("main", "heping"):
        run_job(street, slug, "checkin-reminders")
    clock.advance(hours=2)  # 13:00: still silent, so a 敲门 task
    for slug in ("main", "heping"):
        run_job(street, slug, "checkin-knocks")
    knocks = {slug: checkin_pushes(street, slug, "今天未报平安") for slug in ("main", "heping")}
    assert set(knocks["heping"]) == {ZHOU}
    assert "1号楼" in knocks["heping"][ZHOU][0] and "马淑芬" in knocks["heping"][ZHOU][0]
    assert WANG in knocks["main"] and set(knocks["main"]) <= MAIN_STAFF
    assert not any("马淑芬" in text for texts in knocks["main"].values() for text in texts)
    assert [t.resident.name for t in tickets(street.runtime("heping").factory)] == ["马淑芬"]
    assert "马淑芬" not in {t.resident.name for t in tickets(street.runtime("main").factory)}


def checkin_pushes(street: Street, slug: str, words: str) -> dict[str, list[str]]:
    """A community's pushes mentioning `words`, by recipient."""
    found: dict[str, list[str]] = {}
    for push in pushes(street.runtime(slug).factory):
        if words in push.text:
            found.setdefault(push.recipient, []).append(push.text)
    return found


def test_each_communitys_reports_and_export_count_only_its_own_tickets(
    street: Street, street_environment: dict[str, str], clock: FakeClock
) -> None:
    webhook(street, "main", clock).say(LIU, MAIN_LEAK)
    webhook(street, "main", clock).say(SUN, "马桶不下水")
    webhook(street, "heping", clock).say(HE, HEPING_LEAK)
    env = command_env() | street_environment

    heping_day = run_in_process(env, "--community", "heping", "report", "--date", "2026-11-23")
    main_day = run_in_process(env, "report", "--date", "2026-11-23")
    assert heping_day.returncode == 0 and main_day.returncode == 0, heping_day.stderr + main_day.stderr
    assert heping_day.stdout.startswith("【日报】和平里社区 · 2026年11月23日\n")
    assert "工单:新增1件(其中已取消0件)" in heping_day.stdout
    assert main_day.stdout.startswith("【日报】幸福里社区 · 2026年11月23日\n")
    assert "工单:新增2件(其中已取消0件)" in main_day.stdout
    grid = run_in_process(env, "--community", "heping", "report", "--grid", "H2", "--date", "2026-11-23")
    assert grid.stdout.startswith("【日报】和平二网格") and "新增1件" in grid.stdout
    assert run_in_process(env, "--community", "heping", "report", "--grid", "G2").returncode == 2

    for slug, login in (("main", "duty"), ("heping", "hduty")):
        added = run_in_process(
            env, "--community", slug, "staff", "add", "--name", "值班台", "--login", login,
            "--role", "community", "--password-stdin", stdin=f"{PASSWORD}\n",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    heping_week = scopes_and_counts(street, "/c/heping", "hduty")
    assert heping_week == {"和平里社区": 1, "和平一网格": 0, "和平二网格": 1}
    main_week = scopes_and_counts(street, "", "duty")
    assert main_week == {"幸福里社区": 2, "第一网格": 0, "第二网格": 1, "第三网格": 1}
    # One community's account is no account at the other's console.
    assert sign_in_at(browser(street), "/c/heping", "duty").status_code == 401
    assert sign_in_at(browser(street), "", "hduty").status_code == 401


def scopes_and_counts(street: Street, mount: str, login: str) -> dict[str, int]:
    """New tickets by scope in a community's weekly report, downloaded from its console as Excel."""
    client = browser(street)
    assert sign_in_at(client, mount, login).status_code == 302
    response = client.get(f"{mount}/console/reports.xlsx?scope=community&period=week&date=2026-11-23")
    assert response.status_code == 200, response.get_data(as_text=True)
    rows = list(load_workbook(BytesIO(response.data)).worksheets[0].iter_rows(values_only=True))
    opened = rows[0].index("新增工单")
    return {row[0]: row[opened] for row in rows[1:]}


def test_each_communitys_daily_reports_go_to_its_own_staff_and_link_to_its_own_console(
    street: Street, clock: FakeClock
) -> None:
    # The register was loaded at the real time: reports cover only days after it, so move past it.
    later = max(clock.now, datetime.now(UTC)).astimezone(BEIJING).date() + timedelta(days=2)
    clock.now = datetime.combine(later, time(10), tzinfo=BEIJING).astimezone(UTC)
    webhook(street, "main", clock).say(LIU, MAIN_LEAK)
    webhook(street, "heping", clock).say(HE, HEPING_LEAK)
    clock.advance(hours=22)  # 08:00 the next day: yesterday's daily reports are due
    for slug in ("main", "heping"):
        run_job(street, slug, "report-pushes")
    main_reports, heping_reports = report_pushes(street, "main"), report_pushes(street, "heping")

    assert heping_reports and set(heping_reports) <= HEPING_STAFF
    assert main_reports and set(main_reports) <= MAIN_STAFF
    heping_texts = [text for texts in heping_reports.values() for text in texts]
    main_texts = [text for texts in main_reports.values() for text in texts]
    assert all(f"{STREET_CONSOLE}/c/heping/console/reports?" in text for text in heping_texts)
    assert all(f"{STREET_CONSOLE}/console/reports?" in text for text in main_texts)
    assert any(text.startswith("【日报】和平二网格") and "新工单1件" in text for text in heping_texts)
    assert any(text.startswith("【日报】第二网格") and "新工单1件" in text for text in main_texts)
    assert not any("和平" in text for text in main_texts)


def report_pushes(street: Street, slug: str) -> dict[str, list[str]]:
    """A community's pushed reports, by recipient."""
    found: dict[str, list[str]] = {}
    for push in pushes(street.runtime(slug).factory):
        if push.kind.startswith("report_"):
            found.setdefault(push.recipient, []).append(push.text)
    return found


def test_each_communitys_open311_lists_and_files_only_its_own_requests_with_its_own_keys(
    street: Street, clock: FakeClock
) -> None:
    home, heping = webhook(street, "main", clock), webhook(street, "heping", clock)
    home.say(LIU, MAIN_LEAK)
    heping.say(HE, HEPING_LEAK)
    client = browser(street)

    main_rows = client.get("/open311/v2/requests.json").get_json()
    heping_rows = client.get("/c/heping/open311/v2/requests.json").get_json()
    assert [(r["service_request_id"], r["address"]) for r in main_rows] == [("1", "5号楼,幸福里社区")]
    assert [(r["service_request_id"], r["address"]) for r in heping_rows] == [("1", "3号楼,和平里社区")]
    discovery = client.get("/c/heping/open311/discovery.json").get_json()
    assert [e["url"] for e in discovery["endpoints"]] == [f"{STREET_CONSOLE}/c/heping/open311/v2"]

    form = {
        "service_code": "repair.water",
        "address_string": "和平里社区4号楼",
        "description": "楼道水管漏水",
    }
    refused = client.post("/c/heping/open311/v2/requests.json", data=form | {"api_key": MAIN_KEY})
    assert refused.status_code == 403
    assert client.post("/open311/v2/requests.json", data=form | {"api_key": HEPING_KEY}).status_code == 403
    filed = client.post("/c/heping/open311/v2/requests.json", data=form | {"api_key": HEPING_KEY})
    assert filed.status_code == 200 and filed.get_json()[0]["service_request_id"] == "2"
    assert len(tickets(street.runtime("main").factory)) == 1
    assert [t.assignee.name for t in tickets(street.runtime("heping").factory)] == ["吴磊", "吴磊"]


def test_an_open311_client_follows_a_heping_ticket_from_opened_to_closed(
    street: Street, clock: FakeClock
) -> None:
    home, heping = webhook(street, "main", clock), webhook(street, "heping", clock)
    home.say(LIU, MAIN_LEAK)  # the first community's #1: never in 和平里's updates
    heping.say(HE, HEPING_LEAK)
    for minutes, who, words in (
        (5, WU, "签收 1"),
        (60, WU, "进度 1 已联系物业,下午来修"),
        (120, WU, "办结 1 水管已修好"),
        (30, HE, "1"),
    ):
        clock.advance(minutes=minutes)
        heping.say(who, words)
    client = browser(street)

    updates = client.get("/c/heping/open311/v2/servicerequestupdates.json").get_json()
    assert [(u["service_request_id"], u["status"]) for u in updates] == [
        ("1", "open"), ("1", "action_scheduled"), ("1", "in_progress"), ("1", "fixed"), ("1", "closed"),
    ]  # fmt: skip
    assert updates[2]["description"] == "处理中:已联系物业,下午来修"
    main_updates = client.get("/open311/v2/servicerequestupdates.json").get_json()
    assert [(u["service_request_id"], u["status"]) for u in main_updates] == [("1", "open")]
    # A client polling on from its last update gets nothing of the other community's.
    since = client.get(
        "/c/heping/open311/v2/servicerequestupdates.json",
        query_string={"start_date": updates[-1]["updated_datetime"]},
    ).get_json()
    assert [u["update_id"] for u in since] == [updates[-1]["update_id"]]


def test_the_command_line_works_on_the_community_it_is_told_and_refuses_unknown_ones_in_one_line(
    street: Street, street_environment: dict[str, str], clock: FakeClock
) -> None:
    webhook(street, "main", clock).say(LIU, MAIN_LEAK)
    env = command_env() | street_environment

    listed = run_in_process(env, "community", "list")
    assert [line.split("\t")[:3] for line in listed.stdout.splitlines()] == [
        ["main", "幸福里社区", "/wechat"],
        ["heping", "和平里社区", "/wechat/heping"],
    ]
    # `say` to the running deployment reaches 和平里's webhook, signed with its own token.
    clock.now = datetime.now(UTC)  # say signs with the real time; the server must agree
    with on_loopback(street.app) as base:  # the whole deployment, on loopback
        said = run_in_process(
            env, "--community", "heping", "say", "--as", HE, "--url", base, "--wait", "0", "楼道灯坏了"
        )
    assert said.returncode == 0, said.stderr
    assert "吴磊" in said.stdout and "李骁" not in said.stdout
    heping_tickets = run_in_process(env, "--community", "heping", "tickets", "--json")
    main_tickets = run_in_process(env, "tickets", "--json")
    assert [row_of(line) for line in heping_tickets.stdout.splitlines()] == [(1, HE, "吴磊")]
    assert [row_of(line) for line in main_tickets.stdout.splitlines()] == [(1, LIU, "李骁")]

    added = run_in_process(
        env, "--community", "heping", "staff", "add", "--name", "钱志强", "--login", "qian",
        "--role", "leader", "--password-stdin", stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert sign_in_at(browser(street), "/c/heping", "qian").status_code == 302
    assert sign_in_at(browser(street), "", "qian").status_code == 401
    logins = run_in_process(env, "--community", "heping", "staff", "list").stdout
    assert "qian" in logins and "qian" not in run_in_process(env, "staff", "list").stdout

    for argv, named in (
        (["--community", "nosuch", "tickets"], "--community nosuch"),
        (["--community", "Heping", "tickets"], "--community Heping"),
        (["community", "add", "He_Ping", "--name", "和平"], "'He_Ping'"),
        (["community", "add", "heping", "--name", "和平里"], "heping"),
    ):
        refused = run_in_process(env, *argv)
        assert refused.returncode == 2, (argv, refused.stdout, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1 and named in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    for argv in (
        ["--community", "heping", "community", "add", "xingfu", "--name", "幸福"],
        ["--community", "heping", "community", "list"],
    ):
        refused = run_in_process(env, *argv)
        assert (refused.returncode, refused.stderr.count("\n")) == (
            2,
            1,
        ) and "leave out --community" in refused.stderr
    lone = run_in_process(env, "--community")
    assert lone.returncode == 2 and "argument --community: expected one argument" in lone.stderr


def row_of(line: str) -> tuple[int, str, str]:
    """A `tickets --json` line's number, resident and assignee."""
    row = json.loads(line)
    return row["number"], row["resident"], row["assignee"]


def test_a_variable_naming_no_community_stops_start_up_in_one_line(
    street: Street, street_environment: dict[str, str]
) -> None:
    env = command_env() | street_environment | {"GRIDDESK_COMMUNITIES_NOSUCH_WECHAT_TOKEN": "x"}
    for command in ("migrate", "scheduler"):
        stopped = run_in_process(env, command)
        assert stopped.returncode == 2, stopped.stdout + stopped.stderr
        [line] = stopped.stderr.strip().splitlines()
        assert "GRIDDESK_COMMUNITIES_NOSUCH_WECHAT_TOKEN" in line and "community" in line


def test_the_nightly_backup_copies_every_communitys_database_a_file_each(
    street: Street, street_environment: dict[str, str], clock: FakeClock, tmp_path: Path
) -> None:
    webhook(street, "main", clock).say(LIU, MAIN_LEAK)
    webhook(street, "heping", clock).say(HE, HEPING_LEAK)
    env = command_env() | street_environment
    backups = tmp_path / "backups"

    backed_up = run_in_process(env, "backup", f"{backups}/")  # as griddesk-backup.service runs it

    assert backed_up.returncode == 0, backed_up.stderr
    assert len(backed_up.stdout.splitlines()) == 2
    [main_copy] = backups.glob("griddesk-2*")
    [heping_copy] = backups.glob("griddesk-heping-2*")
    if not ON_POSTGRESQL:  # a SQLite backup is the database itself: read it
        assert residents_with_tickets(main_copy) == ["demo-resident-liu"]
        assert residents_with_tickets(heping_copy) == ["heping-resident-he"]
    one_file = run_in_process(env, "backup", str(tmp_path / "all.db"))
    assert (
        one_file.returncode == 2 and one_file.stderr.count("\n") == 1 and "name a folder" in one_file.stderr
    )
    alone = run_in_process(env, "--community", "heping", "backup", str(tmp_path / "heping.db.bak"))
    assert alone.returncode == 0 and (tmp_path / "heping.db.bak").is_file()
    if not ON_POSTGRESQL:  # a database file that is not there is not made by looking for its register
        nowhere = env | {"GRIDDESK_DATABASE_URL": f"sqlite:///{tmp_path / 'nowhere.db'}"}
        missing = run_in_process(nowhere, "backup", f"{tmp_path / 'elsewhere'}/")
        assert missing.returncode == 2 and "no SQLite database file" in missing.stderr
        assert not (tmp_path / "nowhere.db").exists()


def residents_with_tickets(backup: Path) -> list[str]:
    """The openids of the residents with a ticket in a SQLite backup."""
    with closing(sqlite3.connect(backup)) as connection:
        query = "SELECT r.openid FROM tickets t JOIN residents r ON r.id = t.resident_id ORDER BY t.id"
        return [openid for (openid,) in connection.execute(query)]


def test_a_live_community_without_an_official_account_of_its_own_is_refused_in_one_line(
    street: Street, street_environment: dict[str, str]
) -> None:
    # The first community goes live; 和平里 has a token but was given no appid and secret of its own, so
    # it would answer and push through the first community's account.
    live = {"GRIDDESK_WECHAT_APPID": "wx0123456789abcdef", "GRIDDESK_WECHAT_SECRET": "main-app-secret"}
    env = command_env() | street_environment | live
    for argv in (["migrate"], ["scheduler"], ["community", "add", "xingfu", "--name", "幸福"]):
        refused = run_in_process(env, *argv)
        assert refused.returncode == 2, (argv, refused.stdout, refused.stderr)
        [line] = refused.stderr.strip().splitlines()
        assert "wechat.appid is community main's" in line
        assert "GRIDDESK_COMMUNITIES_HEPING_WECHAT_APPID" in line or "XINGFU" in line
    own = {"GRIDDESK_COMMUNITIES_HEPING_WECHAT_APPID": "wx9876543210fedcba"}
    assert run_in_process(env | own, "migrate").returncode == 0
    # Its own account, but the first community's token: a message signed for one would pass the other's door.
    same_token = own | {
        "GRIDDESK_COMMUNITIES_HEPING_WECHAT_TOKEN": env.get("GRIDDESK_WECHAT_TOKEN", "griddesk-sandbox")
    }
    refused = run_in_process(env | same_token, "migrate")
    assert refused.returncode == 2 and "wechat.token is community main's" in refused.stderr
    assert "GRIDDESK_COMMUNITIES_HEPING_WECHAT_TOKEN" in refused.stderr


@pytest.fixture
def console_links(street_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The console's address, so staff pushes carry one-time sign-in links (ask for it before `street`)."""
    street_environment["GRIDDESK_CONSOLE_BASE_URL"] = STREET_CONSOLE
    monkeypatch.setenv("GRIDDESK_CONSOLE_BASE_URL", STREET_CONSOLE)


def test_a_workers_sign_in_link_opens_their_own_communitys_ticket(
    console_links: None, street: Street, clock: FakeClock
) -> None:
    webhook(street, "main", clock).say(LIU, MAIN_LEAK)
    webhook(street, "heping", clock).say(HE, HEPING_LEAK)
    [link] = [
        sign_in_link(sent.text) for sent in deliver(street.runtime("heping").app) if sent.recipient == WU
    ]
    assert link.startswith(f"{STREET_CONSOLE}/c/heping/console/go/")
    client = browser(street)

    opened = client.get(urlsplit(link).path)

    assert opened.status_code == 302 and opened.headers["Location"] == "/c/heping/console/tickets/1"
    page = text(client.get("/c/heping/console/tickets/1"))
    assert "何文斌" in page and "厨房水管漏水" in page and "刘建华" not in page
    assert client.get("/console/tickets/1").status_code == 302  # signed in to 和平里's console alone


def sign_in_link(push_text: str) -> str:
    """The one-time sign-in link of a push as sent (its 网页处理 line)."""
    return next(line for line in push_text.splitlines() if line.startswith("网页处理:")).removeprefix(
        "网页处理:"
    )
