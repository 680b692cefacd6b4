"""The board as a desk: the table's sort in the URL, paging with filters and sort, bulk 签收 and 转派."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from config.settings import Settings
from storage.db import transaction
from storage.models import Building, Grid, Resident
from tests.conftest import pushes, tickets
from tests.e2e.console_support import console_settings, csrf, make_account, sign_in, text

ZHANG, LIU, SUN = "demo-resident-zhang", "demo-resident-liu", "demo-resident-sun"  # 3号楼, 5号楼, 7号楼
WANG = "demo-worker-wang"
_ROW = re.compile(r'<tr class="row[^"]*">.*?>#(\d+)</a>', re.DOTALL)
_NOTES = re.compile(r'<p class="note (done|refused)" role="status">(.*?)</p>', re.DOTALL)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Sandbox settings with the console's public address set."""
    return console_settings(tmp_path)


@pytest.fixture
def accounts(factory, clock) -> None:
    """王芳 (worker of G1, AB岗 of G2), 周强 (a new leader of G3 only) and the community desk."""
    make_account(factory, clock, "王芳", "wangfang", "worker")
    make_account(factory, clock, "周强", "zhouqiang", "leader", ("G3",))
    make_account(factory, clock, "社区值班台", "duty", "community")


def rows(client: FlaskClient, **query: str) -> list[int]:
    """The ticket numbers in the board's table, top to bottom."""
    response = client.get("/console/tickets", query_string=query)
    assert response.status_code == 200
    return [int(number) for number in _ROW.findall(response.get_data(as_text=True))]


def bulk(client: FlaskClient, action: str, numbers: list[int], back: str = "", **fields: str) -> list[tuple]:
    """Tick tickets in the table, press a bulk button; the notices on the board shown after it."""
    token = csrf(client, "/console/")
    ticked = [str(number) for number in numbers]
    data = {"csrf_token": token, "action": action, "ticket": ticked, "back": back, **fields}
    response = client.post("/console/tickets/bulk", data=data, follow_redirects=True)
    assert response.status_code == 200
    return [(kind, unescape(said).strip()) for kind, said in _NOTES.findall(response.get_data(as_text=True))]


def open_three(wechat) -> None:
    wechat.say(LIU, "楼道灯不亮了")  # #1: 5号楼, G2
    wechat.say(SUN, "马桶不下水")  # #2: 7号楼, G3
    wechat.say(ZHANG, "卫生间水管漏水了")  # #3: 3号楼, G1


# The table


def test_the_table_sorts_by_the_column_in_the_url_both_ways(app, wechat, accounts) -> None:
    open_three(wechat)
    wechat.say("o-newcomer", "家里水管漏了")  # #4: no building yet
    client = app.test_client()
    sign_in(client, "duty")
    assert rows(client, sort="number") == [1, 2, 3, 4] and rows(client, sort="-number") == [4, 3, 2, 1]
    # By building as people count them; a resident with no address is last either way.
    assert rows(client, sort="building") == [3, 1, 2, 4] and rows(client, sort="-building") == [2, 1, 3, 4]
    # Sorting by building joins residents and buildings; the search by name or words still finds the same.
    assert rows(client, sort="building", q="水管") == [3, 4]
    assert rows(client, sort="-building", q="张秀兰") == [3]
    wechat.say(WANG, "签收 3")
    assert rows(client, sort="status")[-1] == 3  # 已签收 after 已派单
    assert rows(client, sort="assignee")[-1] == 4  # nobody holds the newcomer's ticket yet: last
    assert rows(client, sort="nonsense") == rows(client)  # an unknown column: most urgent first
    html = client.get("/console/tickets?sort=number&q=水").get_data(as_text=True)
    heading = re.search(r'<th aria-sort="ascending"><a href="([^"]+)">工单号 ▲</a>', html)
    assert heading is not None and "sort=-number" in heading.group(1) and "q=" in heading.group(1)
    # The filter form keeps the sort when the filters change.
    assert '<input type="hidden" name="sort" value="number">' in html


def test_buildings_sort_as_people_count_them(app, wechat, factory, clock, accounts) -> None:
    with transaction(factory) as session:
        first_grid = session.scalars(select(Grid).where(Grid.code == "G1")).one()
        tenth = Building(name="10号楼", grid_id=first_grid.id)
        session.add(Resident(openid="o-ten", name="钱七", building=tenth, created_at=clock()))
    wechat.say("o-ten", "楼道灯不亮了")  # #1: 10号楼
    wechat.say(ZHANG, "卫生间水管漏水了")  # #2: 3号楼
    client = app.test_client()
    sign_in(client, "duty")
    assert rows(client, sort="building") == [2, 1] and rows(client, sort="-building") == [1, 2]


def test_sorting_never_shows_a_ticket_outside_the_persons_grids(app, wechat, accounts) -> None:
    open_three(wechat)
    client = app.test_client()
    sign_in(client, "wangfang")  # G1 and, as AB岗, G2
    for sort in ("number", "-building", "assignee", "-due", "opened", "-status", "category"):
        assert sorted(rows(client, sort=sort, status="all")) == [1, 3], sort
    assert "批量签收" not in text(client.get("/console/"))  # a worker has no bulk buttons
    assert 'name="ticket"' not in client.get("/console/").get_data(as_text=True)


def test_paging_keeps_the_search_filters_and_sort(app, wechat, clock, accounts) -> None:
    for number in range(53):
        wechat.say(f"demo-board-resident-{number}", f"第{number}号问题:楼道灯不亮了")
        clock.advance(seconds=1)
    wechat.say(LIU, "电梯坏了")  # #54: not found by the search
    client = app.test_client()
    sign_in(client, "duty")
    query = {"q": "楼道灯", "sort": "-opened"}
    html = client.get("/console/tickets", query_string=query).get_data(as_text=True)
    assert [int(n) for n in _ROW.findall(html)] == list(range(53, 3, -1))
    link = re.search(r'href="([^"]*page=2[^"]*)">下一页', html)
    assert link is not None and "sort=-opened" in link.group(1) and "q=" in link.group(1)
    second = client.get(unescape(link.group(1))).get_data(as_text=True)
    assert [int(n) for n in _ROW.findall(second)] == [3, 2, 1] and "第 2/2 页" in text_of(second)


def test_the_board_can_stop_reloading_while_rows_are_ticked_and_still_counts_new_tickets(
    app, wechat, accounts
) -> None:
    open_three(wechat)
    client = app.test_client()
    sign_in(client, "duty")
    live = client.get("/console/tickets?sort=number").get_data(as_text=True)
    assert 'http-equiv="refresh"' in live
    pause = re.search(r'<a href="([^"]+)">暂停自动刷新</a>', live)
    assert pause is not None and "live=0" in pause.group(1) and "seen=3" in pause.group(1)
    paused_url = unescape(pause.group(1))
    paused = client.get(paused_url).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in paused and "恢复自动刷新" in paused
    heading = re.search(r'<th aria-sort="ascending"><a href="([^"]+)">', paused)
    assert heading is not None and "live=0" in heading.group(1)  # sorting keeps it paused
    assert '<input type="hidden" name="live" value="0">' in paused  # and so does filtering
    wechat.say(LIU, "电梯坏了")  # #4
    assert "有 1 张新工单" in text_of(client.get(paused_url).get_data(as_text=True))  # a reload by hand
    back = re.search(r'name="back" value="([^"]+)"', paused)
    assert back is not None
    token = csrf(client, "/console/")
    form = {"csrf_token": token, "action": "acknowledge", "ticket": ["1"], "back": unescape(back.group(1))}
    response = client.post("/console/tickets/bulk", data=form)
    assert "live=0" in response.headers["Location"]


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


# Bulk 签收 and 转派


def test_the_office_signs_for_several_tickets_and_is_told_which_could_not_be(
    app, wechat, factory, accounts
) -> None:
    open_three(wechat)
    wechat.say(WANG, "签收 3")
    client = app.test_client()
    sign_in(client, "duty")
    notes = bulk(client, "acknowledge", [1, 2, 3], back="status=open&sort=-number&next=https://evil.example")
    assert notes[0][0] == "done" and notes[0][1].startswith("已签收 2 张工单:#1、#2。已通知:居民。")
    assert notes[1] == ("refused", "1 张没有签收:\n· 工单 #3 当前状态是“已签收”,不能签收。")
    first, second, third = tickets(factory)
    holders = [first.assignee.name, second.assignee.name, third.assignee.name]
    assert holders == ["社区值班台", "社区值班台", "王芳"]
    assert first.status == second.status == "acknowledged"
    assert [e.kind for e in first.events][-1] == "acknowledge"
    to_liu = [p.text for p in pushes(factory) if p.recipient == LIU]
    assert to_liu[-1].startswith("您的工单 #1 已由社区值班台签收")


def test_bulk_signing_tells_the_resident_what_the_single_button_does(app, wechat, factory, accounts) -> None:
    wechat.say(LIU, "楼道灯不亮了")  # #1: signed from its own page
    wechat.say(LIU, "电梯坏了")  # #2: signed in bulk
    client = app.test_client()
    sign_in(client, "duty")
    token = csrf(client, "/console/tickets/1")
    client.post("/console/tickets/1/acknowledge", data={"csrf_token": token})
    bulk(client, "acknowledge", [2])
    told = [p.text for p in pushes(factory) if p.recipient == LIU and "已由" in p.text]
    assert [t.replace("#1", "#2") for t in told[:1]] == told[1:]
    assert [e.kind for e in tickets(factory)[0].events] == [e.kind for e in tickets(factory)[1].events]


def test_a_leader_reassigns_several_tickets_but_none_outside_their_grids(
    app, wechat, factory, accounts
) -> None:
    open_three(wechat)
    wechat.say(SUN, "楼下电梯坏了")  # #4: G3 too
    client = app.test_client()
    sign_in(client, "zhouqiang")  # leads G3 only
    assert sorted(rows(client)) == [2, 4]
    notes = bulk(client, "reassign", [2, 4, 3], name="王芳")
    assert notes[0] == ("done", "已把 2 张工单转派给网格员王芳:#2、#4。已通知:网格员王芳、居民、网格员李骁。")
    assert notes[1] == ("refused", "1 张没有转派:\n· 没有找到工单 #3。")  # G1's: as if it did not exist
    by_number = {ticket.id: ticket for ticket in tickets(factory)}
    assert by_number[2].assignee.name == by_number[4].assignee.name == "王芳"
    assert by_number[3].events[-1].kind != "reassign"
    to_wang = [p.text for p in pushes(factory) if p.recipient == WANG]
    assert any(text.startswith("【转派工单 · 报修】 #2") for text in to_wang)
    again = bulk(client, "reassign", [2], name="王芳")
    assert again == [("refused", "1 张没有转派:\n· 工单#2已由王芳负责,无需转派。")]


def test_a_bulk_form_that_cannot_run_changes_nothing_and_says_why(app, wechat, factory, accounts) -> None:
    open_three(wechat)
    before = [(t.status, t.assignee_id, len(t.events)) for t in tickets(factory)]
    worker = app.test_client()
    sign_in(worker, "wangfang")
    assert bulk(worker, "acknowledge", [1, 3]) == [
        ("refused", "只有网格长和社区、街道工作人员可以批量签收或转派工单。")
    ]
    duty = app.test_client()
    sign_in(duty, "duty")
    assert bulk(duty, "reassign", [1, 2]) == [("refused", "请选择转派给谁。")]
    assert bulk(duty, "reassign", [1, 2], name="不存在的人") == [
        ("refused", "没有找到这位在职的工作人员,请从名单中选择。")
    ]
    assert bulk(duty, "acknowledge", []) == [("refused", "请先勾选要处理的工单。")]
    assert bulk(duty, "acknowledge", ["abc", "-1"]) == [("refused", "请先勾选要处理的工单。")]
    assert bulk(duty, "close", [1]) == [("refused", "请选择要做的操作:签收或转派。")]
    too_many = bulk(duty, "acknowledge", list(range(1, 52)))
    assert too_many == [("refused", "一次最多处理 50 张工单,请分批操作。")]
    assert bulk(duty, "acknowledge", [999]) == [("refused", "1 张没有签收:\n· 没有找到工单 #999。")]
    response = duty.post("/console/tickets/bulk", data={"action": "acknowledge", "ticket": ["1"]})
    assert response.status_code == 400 and "页面已过期或来源不明" in text(response)  # no CSRF token
    assert [(t.status, t.assignee_id, len(t.events)) for t in tickets(factory)] == before


def test_after_a_bulk_action_the_board_keeps_its_filters_and_nothing_else(app, wechat, accounts) -> None:
    open_three(wechat)
    client = app.test_client()
    sign_in(client, "duty")
    token = csrf(client, "/console/")
    response = client.post(
        "/console/tickets/bulk",
        data={
            "csrf_token": token,
            "action": "acknowledge",
            "ticket": ["1"],
            "back": "q=%E6%B0%B4&sort=-number&page=1&next=https%3A%2F%2Fevil.example",
        },
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/console/?") and "sort=-number" in location and "q=%E6%B0%B4" in location
    assert "evil" not in location and "next" not in location
