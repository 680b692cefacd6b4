"""Notices to a building (停水, 停电, 电梯检修): written in the console, delivered by the job within WeChat's
limits, answering residents who report the same outage, never swallowing an emergency; and scope."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from bot.app import create_app
from bot.channels import build_messenger
from bot.dispatcher import dispatch_due
from bot.notice_delivery import run_notice_deliveries
from config.settings import Settings
from storage.db import transaction
from storage.models import Building, Notice, NoticeDelivery, OutboxMessage, Resident
from storage.outbox import queue_push
from tests.conftest import pushes, tickets
from tests.e2e.console_support import csrf, make_account, notice, sign_in, text
from tests.fakewechat import FakeWeChat
from tests.integration.conftest import TEMPLATE_IDS, live_settings
from tests.support import FakeClock, WeChatServer

ZHANG, LIU = "demo-resident-zhang", "demo-resident-liu"  # 3号楼 (G1), 5号楼 (G2)
NOTICE_TEXT = "供水管道抢修,3号楼今天白天停水,请提前储水"
# The fake clock starts at 10:00 in the community (02:00 UTC): the notice is in force from 09:00 to 18:00.
TODAY_9, TODAY_18 = "2026-11-23T09:00", "2026-11-23T18:00"


@pytest.fixture
def accounts(factory, clock) -> None:
    """王芳 (worker of G1, AB岗 of G2), 周强 (a new leader of G3 only) and the community desk."""
    make_account(factory, clock, "王芳", "wangfang", "worker")
    make_account(factory, clock, "周强", "zhouqiang", "leader", ("G3",))
    make_account(factory, clock, "社区值班台", "duty", "community")


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    """WeChat on loopback, taking the shipped templates' ids and a notice template's."""
    server = FakeWeChat(templates=[*TEMPLATE_IDS.values(), "tpl-notice"]).start()
    yield server
    server.stop()


def signed_in(app: Flask, login: str) -> FlaskClient:
    client = app.test_client()
    sign_in(client, login)
    return client


def building_id(factory: sessionmaker[Session], name: str) -> int:
    with transaction(factory) as session:
        return session.scalars(select(Building.id).where(Building.name == name)).one()


def add_residents(
    factory: sessionmaker[Session],
    clock: FakeClock,
    building: str,
    openids: list[str],
    *,
    subscribed: bool = True,
    first_room: int = 101,
) -> None:
    """Bound residents of a building, rooms 101, 102, ... in unit 1."""
    with transaction(factory) as session:
        where = session.scalars(select(Building.id).where(Building.name == building)).one()
        for number, openid in enumerate(openids, start=first_room):
            name = f"住户{number}"
            session.add(
                Resident(
                    openid=openid, name=name, building_id=where, unit="1", room=str(number),
                    subscribed=subscribed, created_at=clock(),
                )
            )  # fmt: skip


def write_notice(
    client: FlaskClient,
    buildings: tuple[int | str, ...] = (),
    grids: tuple[str, ...] = (),
    kind: str = "water",
    words: str = NOTICE_TEXT,
    starts: str = TODAY_9,
    ends: str = TODAY_18,
) -> TestResponse:
    """Fill in and send the console's notice form; returns the page shown after it."""
    form = {
        "csrf_token": csrf(client, "/console/notices"),
        "kind": kind,
        "text": words,
        "starts_at": starts,
        "ends_at": ends,
        "building": [str(b) for b in buildings],
        "grid": list(grids),
    }
    response = client.post("/console/notices", data=form, follow_redirects=True)
    assert response.status_code == 200, response.status_code
    return response


def notices(factory: sessionmaker[Session]) -> list[Notice]:
    with transaction(factory) as session:
        return list(session.scalars(select(Notice).order_by(Notice.id)))


def notice_rows(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    return [row for row in pushes(factory) if row.kind == "notice"]


def deliveries(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    """(openid, channel) of every notice delivery."""
    with transaction(factory) as session:
        query = select(Resident.openid, NoticeDelivery.channel).join(
            Resident, Resident.id == NoticeDelivery.resident_id
        )
        return sorted((openid, channel) for openid, channel in session.execute(query))


# Delivery within WeChat's limits


def live_app(settings: Settings, factory, classifier, clock) -> tuple[Flask, WeChatServer]:
    app = create_app(settings, factory, classifier, clock)
    return app, WeChatServer(app.test_client(), settings.wechat, clock)


def test_residents_inside_their_window_get_a_customer_service_message_the_others_are_listed_to_post(
    tmp_path: Path, factory, classifier, clock, accounts, fake
) -> None:
    live = live_settings(tmp_path, fake)
    app, wechat = live_app(live, factory, classifier, clock)
    add_residents(factory, clock, "3号楼", ["o-wrote-today", "o-quiet"])
    add_residents(factory, clock, "3号楼", ["o-unfollowed"], subscribed=False, first_room=103)
    for openid in (ZHANG, "o-wrote-today"):
        wechat.say(openid, "你好")
        fake.user_wrote(openid)
    worker = signed_in(app, "wangfang")

    page = write_notice(worker, buildings=(building_id(factory, "3号楼"),))

    assert notice(page) == ("done", "通知已保存,正在发送给这些楼的居民(约1分钟内)。")
    assert notice_rows(factory) == []  # the request only stores it: the job tells the building
    planned = run_notice_deliveries(factory, live, clock())
    assert (planned.notices, dict(planned.channels)) == (1, {"custom": 2, "post": 2})
    assert run_notice_deliveries(factory, live, clock()).notices == 0  # run again: nobody told twice
    messenger = build_messenger(live, factory, clock)
    assert dispatch_due(factory, messenger, live.dispatcher, clock()).sent == 2
    custom = {sent.to: sent.payload["text"]["content"] for sent in fake.sent if sent.api == "custom"}
    assert sorted(custom) == sorted([ZHANG, "o-wrote-today"])
    assert custom[ZHANG].splitlines() == [
        "【停水通知】3号楼",
        "时间:11月23日 09:00至18:00",
        NOTICE_TEXT,
    ]
    assert not [sent for sent in fake.sent if sent.api == "template"]  # no notice template configured
    shown = text(worker.get(f"/console/notices/{notices(factory)[0].id}"))
    assert "客服消息 2 · 模板消息 0 · 待张贴 2" in shown
    listed = shown.split("张贴/告知名单")[1]
    assert "3号楼1单元102 · 住户102" in listed and "3号楼1单元103 · 住户103" in listed
    assert "住户101" not in listed and "张秀兰" not in listed  # told in WeChat
    assert "刘建华" not in shown  # 5号楼


def test_a_notice_the_window_has_no_send_left_for_goes_by_template_not_held_as_ticket_news(
    tmp_path: Path, factory, classifier, clock, accounts, fake
) -> None:
    live = live_settings(tmp_path, fake)
    app, wechat = live_app(live, factory, classifier, clock)
    wechat.say(ZHANG, "你好")
    fake.user_wrote(ZHANG)
    messenger = build_messenger(live, factory, clock)
    with transaction(factory) as session:  # four receipts owed to her spend four of her window's five sends
        zhang = session.scalars(select(Resident).where(Resident.openid == ZHANG)).one()
        for n in range(4):
            queue_push(session, clock(), kind="reply", text=f"您发来的第{n}条消息已处理", resident=zhang)
    dispatch_due(factory, messenger, live.dispatcher, clock())
    write_notice(signed_in(app, "wangfang"), buildings=(building_id(factory, "3号楼"),))
    assert dict(run_notice_deliveries(factory, live, clock()).channels) == {"custom": 1}
    # The window's last send is kept for an emergency or a receipt. She is in conversation, so ticket
    # news would wait for her next message; a notice of today's outage cannot wait.
    dispatch_due(factory, messenger, live.dispatcher, clock())
    [row] = notice_rows(factory)
    assert (row.status, row.channel) == ("sent", "template")
    assert len(fake.custom_sends(ZHANG)) == 4
    [template] = [sent for sent in fake.sent if sent.api == "template"]
    assert "停水通知" in str(template.payload["data"])


def test_with_a_notice_template_residents_outside_the_window_get_it_in_twenty_character_fields(
    tmp_path: Path, factory, classifier, clock, accounts, fake
) -> None:
    live = live_settings(tmp_path, fake, GRIDDESK_TEMPLATES_NOTICE_ID="tpl-notice")
    app = create_app(live, factory, classifier, clock)
    add_residents(factory, clock, "3号楼", ["o-quiet"])
    write_notice(signed_in(app, "wangfang"), buildings=(building_id(factory, "3号楼"),))
    run_notice_deliveries(factory, live, clock())
    dispatch_due(factory, build_messenger(live, factory, clock), live.dispatcher, clock())

    templates = {sent.to: sent.payload for sent in fake.sent if sent.api == "template"}
    assert sorted(templates) == sorted([ZHANG, "o-quiet"])  # neither wrote within 48 hours
    fields = {name: value["value"] for name, value in templates["o-quiet"]["data"].items()}
    assert fields == {
        "keyword1": "【停水通知】3号楼",
        "keyword2": "11月23日 09:00至18:00",
        "keyword3": NOTICE_TEXT[:19] + "…",
    }
    assert deliveries(factory) == [(ZHANG, "template"), ("o-quiet", "template")]


def test_a_building_of_300_households_is_told_by_one_job_each_household_once(
    app, factory, clock, accounts
) -> None:
    add_residents(factory, clock, "2号楼", [f"o-big-{n}" for n in range(300)])
    with transaction(factory) as session:  # a third of them wrote within the window
        session.execute(
            update(Resident).where(Resident.openid.like("o-big-%"), Resident.id % 3 == 0)
            .values(last_message_at=clock())
        )  # fmt: skip

    write_notice(signed_in(app, "wangfang"), grids=("G1",), kind="power", words="线路改造,1-3号楼停电")

    assert notice_rows(factory) == []
    console = app.extensions["griddesk.console"]
    planned = run_notice_deliveries(factory, console.settings, clock())
    told = deliveries(factory)
    assert planned.total == len(told) == len({openid for openid, _ in told}) == 301  # 张秀兰 lives in 3号楼
    assert planned.channels["custom"] == 100 and planned.channels["post"] == 201  # no template in the sandbox
    assert len(notice_rows(factory)) == 100


# Residents who report the same outage


@pytest.fixture
def water_notice(app, factory, accounts) -> int:
    """A water notice for 3号楼 written by 王芳; returns its id."""
    write_notice(signed_in(app, "wangfang"), buildings=(building_id(factory, "3号楼"),))
    [written] = notices(factory)
    return written.id


def test_a_resident_reporting_the_outage_gets_the_notice_and_its_end_instead_of_a_ticket(
    app, wechat, factory, water_notice
) -> None:
    for report in ("今天为啥没有自来水", "我家水龍頭一滴水都冇", "又停水啦?"):
        reply = wechat.say(ZHANG, report)
        assert reply.splitlines() == [
            f"社区已发布停水通知:{NOTICE_TEXT}",
            "时间:11月23日 09:00至18:00,预计18:00恢复。",
            "如果您遇到的是别的问题,请回复“报修”加上情况,我们会派网格员处理。",
        ], report
    assert tickets(factory) == []
    assert "答复居民 3 次" in text(signed_in(app, "wangfang").get(f"/console/notices/{water_notice}"))

    reply = wechat.say(ZHANG, "报修 厨房水管接头在滴水")
    assert "工单号 #1" in reply
    assert [(t.category, t.kind) for t in tickets(factory)] == [("repair", "water")]


def test_the_notice_answers_only_its_own_kind_in_its_own_buildings_while_it_lasts(
    app, wechat, factory, clock, water_notice
) -> None:
    assert "工单号 #1" in wechat.say(ZHANG, "家里断电了,灯都不亮")  # a water notice says nothing of power
    assert "工单号 #2" in wechat.say(LIU, "今天为啥没有自来水")  # 5号楼 has no notice
    clock.advance(hours=9)  # 19:00: the notice is over
    assert "工单号" in wechat.say(ZHANG, "今天为啥没有自来水")
    assert len(tickets(factory)) == 3


def test_said_in_distress_the_resident_gets_the_notice_and_a_worker_as_well(
    wechat, factory, water_notice
) -> None:
    reply = wechat.say(ZHANG, "停水一上午了,家里老人要做饭,这可咋整")
    assert reply.startswith(f"社区已发布停水通知:{NOTICE_TEXT}")
    assert "工单号 #1" in reply and "回复“报修”" not in reply
    assert [t.category for t in tickets(factory)] == ["repair"]


def test_emergencies_in_the_building_still_open_emergency_tickets(
    app, wechat, factory, clock, accounts
) -> None:
    three = building_id(factory, "3号楼")
    add_residents(factory, clock, "3号楼", ["o-neighbour"])
    client = signed_in(app, "wangfang")
    write_notice(client, buildings=(three,), kind="power", words="变压器检修,3号楼停电")
    write_notice(client, buildings=(three,), kind="elevator", words="3号楼电梯年检,暂停使用")
    assert wechat.say(ZHANG, "電梯又唔郁").startswith("社区已发布电梯检修通知")

    assert wechat.say(ZHANG, "停电了,我爸靠的那台氧气机不转了").startswith("请立即拨打120")
    assert wechat.say("o-neighbour", "电梯卡在两层中间,我孙子关在里头出不来").startswith("请不要强行扒门")
    found = [(t.category, t.kind, t.resident.openid) for t in tickets(factory)]
    assert found == [("emergency", "medical", ZHANG), ("emergency", "trapped", "o-neighbour")]


# The console: writing, ending, the board's strip, and scope


def test_ending_a_notice_early_lets_reports_open_tickets_again_and_clears_the_board(
    app, wechat, factory, water_notice
) -> None:
    client = signed_in(app, "wangfang")
    assert "停水 3号楼 · 至 11月23日 18:00" in text(client.get("/console/"))
    assert NOTICE_TEXT in text(client.get("/console/notices"))
    token = csrf(client, f"/console/notices/{water_notice}")
    ending = f"/console/notices/{water_notice}/end"
    page = client.post(ending, data={"csrf_token": token}, follow_redirects=True)
    assert notice(page) == ("done", "通知已结束,居民再反映会照常生成工单。")
    assert "已结束" in text(page)
    assert "停水 3号楼" not in text(client.get("/console/"))
    assert "工单号 #1" in wechat.say(ZHANG, "今天为啥没有自来水")


def test_a_worker_writes_only_for_their_grids_and_others_do_not_see_it(app, factory, water_notice) -> None:
    worker = signed_in(app, "wangfang")
    page = write_notice(worker, buildings=(building_id(factory, "7号楼"),))  # G3 is 陈静's, not hers
    assert notice(page) == ("refused", "所选楼栋不在您负责的网格里。")
    assert notice(write_notice(worker, grids=("G3",))) == ("refused", "所选网格不在您负责的范围里。")
    assert len(notices(factory)) == 1

    leader_of_g3 = signed_in(app, "zhouqiang")
    assert leader_of_g3.get(f"/console/notices/{water_notice}").status_code == 404
    token = csrf(leader_of_g3, "/console/notices")
    ending = leader_of_g3.post(f"/console/notices/{water_notice}/end", data={"csrf_token": token})
    assert ending.status_code == 404
    assert NOTICE_TEXT not in text(leader_of_g3.get("/console/notices"))
    assert "停水" not in text(leader_of_g3.get("/console/"))
    assert "3号楼" not in text(leader_of_g3.get("/console/notices"))  # the form offers only 7号楼 and 8号楼
    assert notices(factory)[0].ended_at is None

    office = signed_in(app, "duty")
    assert NOTICE_TEXT in text(office.get(f"/console/notices/{water_notice}"))
    write_notice(office, buildings=(building_id(factory, "7号楼"),), kind="elevator", words="7号楼电梯检修")
    assert len(notices(factory)) == 2


def test_bad_form_input_is_refused_with_a_clear_reason_and_nothing_is_stored(app, factory, accounts) -> None:
    worker = signed_in(app, "wangfang")
    three = (building_id(factory, "3号楼"),)
    cases = [
        ({"buildings": ()}, "请至少选择一栋楼或一个网格。"),
        ({"buildings": three, "words": "  "}, "请写上通知内容。"),
        ({"buildings": three, "words": "停" * 101}, "通知内容请写短一些(最多100字)。"),
        ({"buildings": three, "ends": "2026-11-23T08:00"}, "结束时间要晚于开始时间。"),
        ({"buildings": three, "starts": "昨天"}, "请填写开始和结束时间。"),
        ({"buildings": three, "kind": "gas"}, "请选择通知类别。"),
        ({"buildings": ("x",)}, "所选楼栋不在您负责的网格里。"),
        ({"buildings": three, "starts": "2026-11-20T08:00", "ends": "2026-11-21T08:00"}, "结束时间已经过去了。"),  # noqa: E501
    ]
    for fields, reason in cases:
        assert notice(write_notice(worker, **fields)) == ("refused", reason), fields
    assert notices(factory) == []
    form = {"kind": "water", "text": "停水", "building": str(three[0])}
    form |= {"starts_at": TODAY_9, "ends_at": TODAY_18}
    assert worker.post("/console/notices", data=form).status_code == 400  # no CSRF token
    assert notices(factory) == []
