"""The console's staff page (人员): who looks after each grid, a community office bringing a new worker in
(the one-time code shown once, then bound through the webhook) and recording a worker leaving."""

from __future__ import annotations

import logging
import re
from html import unescape
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from config.settings import Settings
from storage.db import transaction
from storage.models import AuditEvent, Ticket, Worker, WorkerInvite
from tests.conftest import tickets
from tests.e2e.console_support import console_settings, csrf, make_account, notice, sign_in, text
from tests.e2e.street_support import browser, sign_in_at, webhook

ZHANG, LIU = "demo-resident-zhang", "demo-resident-liu"  # grids G1 (王芳), G2 (李骁)
WANG = "demo-worker-wang"
NEWCOMER = "o-sunli"
_SECTION = re.compile(r'<section class="box grid-staff">(.*?)</section>', re.DOTALL)
_CODE = re.compile(r"绑定 ([A-Z2-9]{8})")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Sandbox settings with the console's public address set."""
    return console_settings(tmp_path)


@pytest.fixture
def accounts(factory, clock) -> None:
    """王芳 (worker of G1), 周强 (a new leader of G3 only), the community desk and the street office."""
    make_account(factory, clock, "王芳", "wangfang", "worker")
    make_account(factory, clock, "周强", "zhouqiang", "leader", ("G3",))
    make_account(factory, clock, "社区值班台", "duty", "community")
    make_account(factory, clock, "孙街道", "jiedao", "street")


def signed_in(app, login: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, login).status_code == 302
    return client


def grids_on(response: TestResponse) -> dict[str, str]:
    """The page's grids by name, each with its section's visible text."""
    assert response.status_code == 200, response.status_code
    sections = [_visible(section) for section in _SECTION.findall(response.text)]
    return {section.split(" ")[0]: section for section in sections}


def _visible(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def post_invite(
    client: FlaskClient, mount: str = "", form: str = "/console/staff/invite", **fields: str | list[str]
) -> TestResponse:
    """Fill in and send the new-worker form (its CSRF token read from the page `form`)."""
    token = csrf(client, f"{mount}{form}")
    return client.post(f"{mount}/console/staff/invite", data={"csrf_token": token, **fields})


def worker_id(factory, name: str) -> int:
    with transaction(factory) as session:
        return session.scalars(select(Worker.id).where(Worker.name == name)).one()


# Who sees what


def test_offices_see_every_grid_a_leader_their_own_and_a_worker_no_page(app, wechat, accounts, clock) -> None:
    wechat.say(ZHANG, "厨房水管漏水了")  # ticket #1, 王芳's
    wechat.say(WANG, "我的工单")
    clock.advance(hours=3)  # past the time to sign for it

    duty = signed_in(app, "duty")
    board = duty.get("/console/")
    assert 'href="/console/staff"' in board.text and "人员" in text(board)
    grids = grids_on(duty.get("/console/staff"))
    assert list(grids) == ["第一网格", "第二网格", "第三网格"]
    first = grids["第一网格"]
    assert "网格员 王芳 · 139****0002 · 已绑定微信 在办工单 1 · 超时 1" in first
    assert "AB岗 李骁" in first and "网格长 赵建国" in first
    assert "最近活动 11月" in first.split("AB岗")[0]  # 王芳's message
    assert "网格长 周强 · 未绑定" in grids["第三网格"]  # an account, no WeChat
    page = duty.get("/console/staff").text
    assert "13900000002" not in page and "办理离岗" in page and "新增人员" in page

    street = grids_on(signed_in(app, "jiedao").get("/console/staff"))
    assert list(street) == ["第一网格", "第二网格", "第三网格"]

    leader = signed_in(app, "zhouqiang")
    shown = leader.get("/console/staff")
    assert list(grids_on(shown)) == ["第三网格"]
    assert "办理离岗" not in shown.text and "新增人员" not in shown.text
    assert leader.get("/console/staff/invite").status_code == 403
    forged = post_invite(leader, form="/console/", name="孙丽", role="worker", grid="G3")
    assert forged.status_code == 403

    worker = signed_in(app, "wangfang")
    assert worker.get("/console/staff").status_code == 404
    assert 'href="/console/staff"' not in worker.get("/console/").text


# A new worker


def test_the_community_office_brings_a_worker_in_whose_code_is_shown_once_and_binds(
    app, wechat, accounts, factory, caplog
) -> None:
    duty = signed_in(app, "duty")
    caplog.set_level(logging.DEBUG)
    sent = post_invite(
        duty, name="孙丽", role="worker", grid="G3", phone="137 0000 1234", backup="王芳", replace="1"
    )
    assert sent.status_code == 302
    location = sent.headers["Location"]
    assert re.fullmatch(r"/console/staff/invites/\d+", location)

    shown = duty.get(location)
    code = _CODE.search(text(shown)).group(1)
    assert f"<strong>{code}</strong>" in shown.text and "前有效,只能使用一次" in text(shown)
    assert "绑定后,孙丽将接替陈静负责第三网格" in text(shown)
    assert code not in location and code not in caplog.text
    again = duty.get(location)
    assert code not in again.text and "绑定码只显示一次,已不再显示" in text(again)
    with transaction(factory) as session:
        stored = session.scalars(select(WorkerInvite)).one()
        assert code not in (stored.code_hash, stored.name, stored.grid_codes)
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "console_invite")).one()
        assert audit.subject == f"invite #{stored.id}" and code not in audit.detail
    assert "待绑定" in duty.get("/console/staff").text

    assert "绑定成功" in wechat.say(NEWCOMER, f"绑定 {code}")
    third = grids_on(duty.get("/console/staff"))["第三网格"]
    assert "网格员 孙丽 · 137****1234 · 已绑定微信" in third and "AB岗 王芳" in third and "陈静" not in third
    assert "这个绑定码已" not in text(duty.get(location)) and "已于" in text(duty.get(location))


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        (
            {"name": "孙丽", "role": "worker", "grid": "G1"},
            "第一网格已有网格员王芳。如确需由孙丽接替,请勾选“接替现有人员”。",
        ),
        ({"name": "孙丽", "role": "worker", "grid": "G9"}, "没有找到所选的网格"),
        ({"name": "孙丽", "role": "worker", "grid": ["G1", "G2"]}, "网格员请选择一个网格"),
        ({"name": "", "role": "worker", "grid": "G3"}, "请填写姓名。"),
        ({"name": "孙\n丽", "role": "worker", "grid": "G3"}, "姓名里不能有换行"),
        ({"name": "孙" * 51, "role": "worker", "grid": "G3"}, "姓名最多50个字"),
        ({"name": "孙丽", "role": "street"}, "请选择人员的岗位"),
        ({"name": "孙丽", "role": "community", "grid": "G3"}, "社区值班负责全社区,不用选择网格"),
        ({"name": "孙丽", "role": "worker", "grid": "G3", "phone": "12"}, "手机号码格式不对"),
        ({"name": "王芳", "role": "worker", "grid": "G3", "replace": "1"}, "网格员王芳已经绑定了微信"),
    ],
)
def test_a_refused_invite_comes_back_as_the_form_saying_why(app, accounts, factory, fields, said) -> None:
    page = post_invite(signed_in(app, "duty"), **fields)
    assert page.status_code == 200
    refused = re.search(r'<p class="note refused" role="status">(.*?)</p>', page.text).group(1)
    assert said in unescape(refused)
    assert 'name="name"' in page.text and "生成绑定码" in page.text
    if fields["name"] == "孙丽":
        assert 'value="孙丽"' in page.text  # what was typed stays
    with transaction(factory) as session:
        assert session.scalars(select(WorkerInvite)).first() is None


def test_the_form_needs_the_pages_csrf_token(app, accounts, factory) -> None:
    duty = signed_in(app, "duty")
    refused = duty.post("/console/staff/invite", data={"name": "孙丽", "role": "worker", "grid": "G3"})
    assert refused.status_code == 400
    with transaction(factory) as session:
        assert session.scalars(select(WorkerInvite)).first() is None


# A worker leaving


def test_a_worker_leaving_passes_their_grid_and_open_tickets_on_and_the_page_says_to_whom(
    app, wechat, accounts, factory
) -> None:
    wechat.say(ZHANG, "厨房水管漏水了")  # #1, 王芳's
    wechat.say(LIU, "楼道灯不亮了")  # #2, 李骁's
    wang, li = worker_id(factory, "王芳"), worker_id(factory, "李骁")
    duty = signed_in(app, "duty")

    confirm = duty.get(f"/console/staff/{wang}/leave")
    assert confirm.status_code == 200
    said = text(confirm)
    assert "第一网格" in said and "在办工单 1 张" in said and "其担任AB岗的李骁" in said
    token = csrf(duty, f"/console/staff/{wang}/leave")
    done = duty.post(f"/console/staff/{wang}/leave", data={"csrf_token": token, "successor": str(li)})
    assert done.status_code == 302 and done.headers["Location"] == "/console/staff"

    page = duty.get("/console/staff")
    kind, said = notice(page)
    assert kind == "done" and said.startswith("王芳已离岗:微信已解绑")
    assert "网格第一网格已交给李骁。" in said and "工单#1已转给李骁。" in said
    assert "其控制台账号已停用。" in said
    assert "李骁暂无AB岗,请重新安排。" in said  # nobody backs themselves up
    grids = grids_on(page)
    assert "网格员 李骁" in grids["第一网格"] and "王芳" not in " ".join(grids.values())
    assert {t.id: t.assignee.name for t in tickets(factory)} == {1: "李骁", 2: "李骁"}
    assert signed_in(app, "duty").get(f"/console/staff/{wang}/leave").status_code == 404  # gone already
    with transaction(factory) as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "console_leave")).one()
        assert audit.subject == f"worker #{wang}" and "tickets 1" in audit.detail


def test_without_a_successor_open_tickets_go_up_the_ladder(app, wechat, accounts, factory) -> None:
    wechat.say(LIU, "楼道灯不亮了")  # #1, 李骁's
    li = worker_id(factory, "李骁")
    duty = signed_in(app, "duty")
    token = csrf(duty, f"/console/staff/{li}/leave")
    duty.post(f"/console/staff/{li}/leave", data={"csrf_token": token, "successor": ""})
    _, said = notice(duty.get("/console/staff"))
    holder = {t.id: t.assignee for t in tickets(factory)}[1]
    assert holder is not None and f"工单#1已转给{holder.name}。" in said
    assert "网格第二网格暂无人负责" in said
    assert "网格员 暂无" in grids_on(duty.get("/console/staff"))["第二网格"]


def test_nobody_records_their_own_departure_nor_one_the_form_never_offered(app, accounts, factory) -> None:
    duty = signed_in(app, "duty")
    assert duty.get(f"/console/staff/{worker_id(factory, '社区值班台')}/leave").status_code == 403
    wang, leader = worker_id(factory, "王芳"), worker_id(factory, "赵建国")
    token = csrf(duty, f"/console/staff/{wang}/leave")
    refused = duty.post(f"/console/staff/{wang}/leave", data={"csrf_token": token, "successor": str(leader)})
    assert refused.status_code == 302
    assert notice(duty.get(refused.headers["Location"]))[0] == "refused"
    with transaction(factory) as session:
        assert session.get(Worker, wang).left_at is None


# Another community's console


def test_the_staff_page_works_under_a_second_community_s_mount(street, clock) -> None:
    factory = street.runtime("heping").factory
    make_account(factory, clock, "和平里值班台", "duty", "community")
    client = browser(street)
    assert sign_in_at(client, "/c/heping", "duty").status_code == 302
    grids = grids_on(client.get("/c/heping/console/staff"))
    assert list(grids) == ["和平一网格", "和平二网格"] and "网格员 周敏" in grids["和平一网格"]

    sent = post_invite(client, "/c/heping", name="郑丽", role="leader", grid=["H1", "H2"], replace="1")
    assert sent.status_code == 302 and sent.headers["Location"].startswith("/c/heping/console/staff/invites/")
    code = _CODE.search(text(client.get(sent.headers["Location"]))).group(1)
    assert "绑定成功" in webhook(street, "heping", clock).say("heping-new-leader", f"绑定 {code}")
    after = grids_on(client.get("/c/heping/console/staff"))
    assert "网格长 郑丽 · 已绑定微信" in after["和平一网格"] and "网格长 郑丽" in after["和平二网格"]
    assert "钱志强" not in " ".join(after.values())
    with transaction(street.runtime("main").factory) as session:  # the first community's register: untouched
        assert session.scalars(select(WorkerInvite)).first() is None
        assert session.scalars(select(Ticket)).first() is None
