"""Open311 GeoReport v2: services, requests and their filters, filing with a key, privacy, a real client.

Every response is checked against the spec's fields and types (wiki.open311.org/GeoReport_v2, and the
JSON schemas of open311/schema-validation), in JSON and in XML, and the two formats must agree.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from georeport import GeoReport
from sqlalchemy import select

from bot.app import create_app
from bot.dispatcher import dispatch_due
from bot.messenger import ConsoleMessenger
from config.settings import Settings, load_settings
from handlers.tickets.actions import merge_duplicate
from storage.db import transaction
from storage.models import InboundMessage, Resident, Ticket, Worker
from tests.conftest import make_settings, pushes, tickets
from tests.support import WeChatServer, on_loopback

API_KEY = "test-key-12345-abcdef"
ZHANG, LIU, SUN = "demo-resident-zhang", "demo-resident-liu", "demo-resident-sun"
WANG = "demo-worker-wang"
# What must never leave through the public API: the demo residents' and their family's names, phones,
# openids, units and rooms, and what the test requesters send about themselves.
PRIVATE = (
    "张秀兰", "刘建华", "孙桂英", "张伟", "13800000101", "13800000102", "13800000103", "13800000201",
    "demo-resident", "demo-family", "open311:", "register:",
    "赵敏", "13912345678", "zhao@example.org",
)  # fmt: skip
W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")

# GeoReport v2 fields in the spec's order: (type, required). Types as in open311/schema-validation.
SERVICE_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "service_code": ((str,), True),
    "service_name": ((str,), True),
    "description": ((str, type(None)), False),
    "metadata": ((bool,), True),
    "type": ((str,), True),
    "keywords": ((str, type(None)), False),
    "group": ((str, type(None)), False),
}
REQUEST_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "service_request_id": ((str,), True),
    "status": ((str,), True),
    "status_notes": ((str, type(None)), False),
    "service_name": ((str, type(None)), False),
    "service_code": ((str,), True),
    "description": ((str, type(None)), False),
    "agency_responsible": ((str, type(None)), False),
    "service_notice": ((str, type(None)), False),
    "requested_datetime": ((str,), True),
    "updated_datetime": ((str, type(None)), False),
    "expected_datetime": ((str, type(None)), False),
    "address": ((str, type(None)), False),
    "address_id": ((str, type(None)), False),
    "zipcode": ((str, type(None)), False),
    "lat": ((float, int, type(None)), False),
    "long": ((float, int, type(None)), False),
    "media_url": ((str, type(None)), False),
}
CREATED_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "service_request_id": ((str,), True),
    "service_notice": ((str, type(None)), False),
    "account_id": ((str, type(None)), False),
}
UPDATE_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "update_id": ((str,), True),
    "service_request_id": ((str,), True),
    "status": ((str,), True),
    "updated_datetime": ((str,), True),
    "description": ((str, type(None)), False),
    "media_url": ((str, type(None)), False),
    "external_status_code": ((str, type(None)), False),
}
ERROR_FIELDS: dict[str, tuple[tuple[type, ...], bool]] = {
    "code": ((int,), True),
    "description": ((str,), True),
}
PUBLIC_SERVICES = {
    "repair.elevator", "repair.gas", "repair.heating", "repair.water", "repair.power", "repair.other",
    "inquiry", "other",
}  # fmt: skip


@pytest.fixture
def settings(tmp_path) -> Settings:
    """Sandbox settings with one Open311 client allowed to file."""
    return make_settings(tmp_path, GRIDDESK_OPEN311_API_KEYS=f"city12345:{API_KEY}")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# The spec's shapes


def check_fields(row: dict[str, Any], fields: dict[str, tuple[tuple[type, ...], bool]]) -> None:
    """Exactly the spec's fields, each of its type, the required ones present and not null."""
    assert list(row) == list(fields), row
    for name, (types, required) in fields.items():
        assert isinstance(row[name], types), (name, row[name])
        assert not required or row[name] not in (None, ""), name


def check_request(row: dict[str, Any]) -> None:
    check_fields(row, REQUEST_FIELDS)
    assert row["status"] in ("open", "closed")
    assert row["service_code"] in PUBLIC_SERVICES
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert row[name] is None or W3C.match(row[name]), (name, row[name])
    assert row["description"] is None or len(row["description"]) <= 4000
    for name in ("description", "status_notes", "address", "address_id", "agency_responsible"):
        # Rooms, phone numbers and the like are digit runs: none may be left in free text.
        assert not re.search(r"\d{3}", row[name] or ""), (name, row[name])


def check_private(body: str) -> None:
    leaked = [word for word in PRIVATE if word in body] + re.findall(r"[0-9一二三四五六七八九十]+单元", body)
    assert not leaked, (leaked, body)


def xml_rows(body: str, root: str, item: str) -> list[dict[str, str]]:
    """The XML document's items as {field: text}, after checking declaration, root and item names."""
    assert body.startswith('<?xml version="1.0" encoding="utf-8"?>')
    tree = ElementTree.fromstring(body.encode())
    assert tree.tag == root
    assert all(child.tag == item for child in tree)
    return [{field.tag: field.text or "" for field in child} for child in tree]


def as_xml_text(value: Any) -> str:
    """How the spec writes a JSON value in XML: true/false, numbers as written, null as an empty element."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def get_both(client: FlaskClient, path: str, root: str, item: str, **params: str) -> list[dict[str, Any]]:
    """GET path in JSON and XML: both 200, UTF-8 content types, same data, nothing private."""
    as_json = client.get(f"{path}.json", query_string=params)
    as_xml = client.get(f"{path}.xml", query_string=params)
    assert as_json.status_code == 200, as_json.get_data(as_text=True)
    assert as_xml.status_code == 200, as_xml.get_data(as_text=True)
    assert as_json.content_type == "application/json; charset=utf-8"
    assert as_xml.content_type == "text/xml; charset=utf-8"
    rows = as_json.get_json()
    assert isinstance(rows, list)
    assert [{k: as_xml_text(v) for k, v in row.items()} for row in rows] == xml_rows(
        as_xml.get_data(as_text=True), root, item
    )
    check_private(as_json.get_data(as_text=True) + as_xml.get_data(as_text=True))
    return rows


def get_requests(client: FlaskClient, **params: str) -> list[dict[str, Any]]:
    rows = get_both(client, "/open311/v2/requests", "service_requests", "request", **params)
    for row in rows:
        check_request(row)
    return rows


def get_updates(client: FlaskClient, **params: str) -> list[dict[str, Any]]:
    path, root, item = "/open311/v2/servicerequestupdates", "service_request_updates", "request_update"
    rows = get_both(client, path, root, item, **params)
    for row in rows:
        check_fields(row, UPDATE_FIELDS)
        assert W3C.match(row["updated_datetime"]) and not re.search(r"\d{3}", row["description"] or "")
    return rows


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [int(row["service_request_id"]) for row in rows]


def error(response, status: int, fmt: str = "json") -> str:
    """The spec's error list with one error of this status; returns its description."""
    assert response.status_code == status, response.get_data(as_text=True)
    if fmt == "json":
        rows = response.get_json()
    else:
        rows = [
            {"code": int(row["code"]), "description": row["description"]}
            for row in xml_rows(response.get_data(as_text=True), "errors", "error")
        ]
    assert len(rows) == 1
    check_fields(rows[0], ERROR_FIELDS)
    assert rows[0]["code"] == status
    return rows[0]["description"]


def file(client: FlaskClient, fmt: str = "json", **fields: str):
    form = {"api_key": API_KEY, "service_code": "repair.water", "address_string": "幸福里社区3号楼"} | fields
    return client.post(f"/open311/v2/requests.{fmt}", data={k: v for k, v in form.items() if v is not None})


# Services


def test_services_are_the_public_categories_in_both_formats(client) -> None:
    rows = get_both(client, "/open311/v2/services", "services", "service")
    for row in rows:
        check_fields(row, SERVICE_FIELDS)
        assert row["metadata"] is False and row["type"] == "realtime" and row["keywords"]
    by_code = {row["service_code"]: row for row in rows}
    assert set(by_code) == PUBLIC_SERVICES
    assert by_code["repair.water"]["service_name"] == "报修:供水排水"
    assert by_code["repair.water"]["group"] == "报修" and "漏水" in by_code["repair.water"]["keywords"]
    assert by_code["inquiry"]["service_name"] == "咨询"
    body = client.get("/open311/v2/services.json").get_data(as_text=True)
    for private in ("emergency", "medicine", "health", "bill", "dispute", "knock", "紧急", "买药", "敲门"):
        assert private not in body


def test_a_service_definition_exists_only_for_public_services(client) -> None:
    definition = client.get("/open311/v2/services/repair.water.json").get_json()
    assert definition == {"service_code": "repair.water", "attributes": []}
    xml = client.get("/open311/v2/services/inquiry.xml").get_data(as_text=True)
    tree = ElementTree.fromstring(xml.encode())
    assert tree.tag == "service_definition" and tree.findtext("service_code") == "inquiry"
    assert "emergency" in error(client.get("/open311/v2/services/emergency.json"), 404)
    error(client.get("/open311/v2/services/nonsense.xml"), 404, "xml")


def test_the_discovery_file_points_at_the_v2_endpoint(client) -> None:
    found = client.get("/open311/discovery.json").get_json()
    assert set(found) == {"changeset", "contact", "key_service", "endpoints"}
    (endpoint,) = found["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://127.0.0.1:5000/open311/v2" and endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    tree = ElementTree.fromstring(client.get("/open311/discovery.xml").get_data())
    assert [f.text for f in tree.iter("format")] == endpoint["formats"]


def test_the_discovery_file_names_the_configured_address_never_the_requests_host(
    tmp_path, factory, classifier, clock
) -> None:
    """A forged Host (or X-Forwarded-Host) must not send clients of a cached discovery file elsewhere."""
    public = make_settings(tmp_path, GRIDDESK_OPEN311_PUBLIC_BASE_URL="https://griddesk.example.org/")
    console_only = make_settings(tmp_path, GRIDDESK_CONSOLE_BASE_URL="https://wangge.example.org")
    for configured, expected in (
        (public, "https://griddesk.example.org"),
        (console_only, "https://wangge.example.org"),
    ):
        client = create_app(configured, factory, classifier, clock).test_client()
        forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"}
        for fmt in ("json", "xml"):
            body = client.get(f"/open311/discovery.{fmt}", headers=forged).get_data(as_text=True)
            assert f"{expected}/open311/v2" in body and "evil.example" not in body


# Requests from WeChat, read back


def test_wechat_tickets_are_published_without_anything_personal(client, wechat: WeChatServer, clock) -> None:
    wechat.say(ZHANG, "3号楼2单元301卫生间水管漏水了,我是张秀兰,电话13800000101")  # 1 repair.water
    wechat.say(LIU, "降压药没有了")  # 2 medicine: private
    wechat.say(ZHANG, "我爸在卫生间摔倒了,站不起来")  # 3 emergency: private
    wechat.say(LIU, "残疾人补贴怎么申请")  # 4 inquiry
    wechat.say(SUN, "楼上邻居太吵了")  # 5 dispute: private
    clock.advance(minutes=10)
    rows = get_requests(client)
    assert ids(rows) == [4, 1]
    leak = next(row for row in rows if row["service_request_id"] == "1")
    assert leak["service_code"] == "repair.water" and leak["service_name"] == "报修:供水排水"
    assert leak["status"] == "open" and leak["status_notes"] == "已派单"
    assert leak["description"] == "3号楼*单元***卫生间水管漏水了,我是张*兰,电话***********"
    assert leak["address"] == "3号楼,幸福里社区" and leak["address_id"] == "3号楼"
    assert leak["agency_responsible"] == "幸福里社区第一网格"
    assert leak["requested_datetime"] == "2026-11-23T10:00:00+08:00"
    assert leak["expected_datetime"] == "2026-11-24T10:00:00+08:00"  # the 24-hour utility repair deadline
    assert leak["lat"] is None and leak["long"] is None and leak["media_url"] is None
    for private in (2, 3, 5):
        error(client.get(f"/open311/v2/requests/{private}.json"), 404)
    assert ids(get_requests(client, service_request_id="1,2,3,4,5")) == [1, 4]


def test_phones_and_rooms_read_out_in_chinese_numerals_are_not_published(client, wechat, clock) -> None:
    """Voice transcripts write numbers as words; the worker's note too. None of them leaves."""
    voice = "我是三号楼二单元三零一的,厨房水龙头坏了,电话幺三八 一二三四 五六七八"
    wechat.reply(wechat.post(ZHANG, "voice", MediaId="voice-1", Format="amr", Recognition=voice))
    wechat.say(LIU, "楼道灯不亮了,我住五号楼一单元五〇二,手机138一二三四5678")
    wechat.say(WANG, "签收 1")
    wechat.say(WANG, "进度 1 已打一三八零零零零零一零一联系,去三零一看过了")
    clock.advance(minutes=5)
    rows = {row["service_request_id"]: row for row in get_requests(client)}
    assert rows["1"]["description"] == "我是三号楼*单元***的,厨房水龙头坏了,电话*** **** ****"
    assert rows["1"]["status_notes"] == "处理中:已打***********联系,去***看过了"
    assert rows["2"]["description"] == "楼道灯不亮了,我住五号楼*单元***,手机***********"
    bodies = "".join(
        client.get(f"/open311/v2/requests{path}.{fmt}").get_data(as_text=True)
        for path in ("", "/1", "/2")
        for fmt in ("json", "xml")
    )
    for spoken in ("三零一", "五〇二", "幺三八", "一二三四", "五六七八", "一三八零"):
        assert spoken not in bodies


def test_states_become_open_or_closed_with_the_workers_notes(client, wechat: WeChatServer, clock) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "签收 1")
    assert get_requests(client)[0]["status_notes"] == "已签收"
    clock.advance(hours=1)
    wechat.say(WANG, "进度 1 已联系张秀兰(13800000101),下午来修")
    (row,) = get_requests(client)
    assert row["status"] == "open" and row["status_notes"] == "处理中:已联系张*兰(***********),下午来修"
    assert row["updated_datetime"] == "2026-11-23T11:00:00+08:00"
    clock.advance(hours=2)
    wechat.say(WANG, "办结 1 阀门已更换")
    (row,) = get_requests(client)
    assert row["status"] == "closed" and row["status_notes"] == "已办结:阀门已更换"
    assert row["updated_datetime"] == "2026-11-23T13:00:00+08:00"
    clock.advance(hours=1)
    wechat.say(ZHANG, "3")  # 不满意: reopened
    (row,) = get_requests(client)
    assert row["status"] == "open" and row["status_notes"] == "重新办理"


def test_a_client_follows_a_request_from_opened_to_closed_through_its_updates(
    client, wechat: WeChatServer, clock, factory, runtime
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")  # 1
    wechat.say(LIU, "降压药没有了")  # 2: private, never published
    for minutes, who, words in (
        (5, WANG, "签收 1"),
        (60, WANG, "进度 1 已联系张秀兰(13800000101),下午来修"),
        (120, WANG, "办结 1 阀门已更换"),
        (60, ZHANG, "3"),  # 不满意: reopened
        (10, WANG, "签收 1"),
        (60, WANG, "办结 1 重新换了密封圈"),
        (30, ZHANG, "1"),  # 满意: closed
    ):
        clock.advance(minutes=minutes)
        wechat.say(who, words)
    rows = get_updates(client)
    assert [(row["service_request_id"], row["status"]) for row in rows] == [
        ("1", "open"), ("1", "action_scheduled"), ("1", "in_progress"), ("1", "fixed"),
        ("1", "open"), ("1", "action_scheduled"), ("1", "fixed"), ("1", "closed"),
    ]  # fmt: skip
    assert [row["description"] for row in rows][:4] == [
        "已受理", "已签收", "处理中:已联系张*兰(***********),下午来修", "已办结:阀门已更换"
    ]  # fmt: skip
    assert rows[4]["external_status_code"] == "reopened" and rows[4]["description"] == "重新办理"
    assert rows[2]["updated_datetime"] == "2026-11-23T11:05:00+08:00"
    assert len({row["update_id"] for row in rows}) == len(rows)
    # A client polling from its last update's time gets that update and what came after, nothing older.
    later = get_updates(client, start_date=rows[5]["updated_datetime"])
    assert [row["update_id"] for row in later] == [row["update_id"] for row in rows[5:]]
    assert get_updates(client, start_date="2026-11-22", end_date="2026-11-22T23:59:59+08:00") == []
    assert "start_date" in error(client.get("/open311/v2/servicerequestupdates.json?start_date=昨天"), 400)


def test_a_request_merged_as_a_duplicate_says_so_in_its_updates(client, wechat, factory, runtime) -> None:
    wechat.say(ZHANG, "电梯坏了,一直停在5楼")  # 1
    wechat.say(LIU, "电梯坏了")  # 2
    with transaction(factory) as session:
        desk = session.scalars(select(Worker).where(Worker.role == "community")).first()
        assert merge_duplicate(runtime.services(session), desk, 2, 1).accepted
    (merged,) = [row for row in get_updates(client) if row["status"] == "duplicate"]
    assert merged["service_request_id"] == "2"
    assert merged["description"] == "与请求 1 重复,已合并到该请求办理"
    assert get_requests(client, service_request_id="2")[0]["status"] == "closed"


def test_a_cancelled_request_is_closed(client, wechat: WeChatServer) -> None:
    wechat.say(LIU, "电梯坏了")
    wechat.say(LIU, "取消 1")
    (row,) = get_requests(client)
    assert row["service_code"] == "repair.elevator" and row["status"] == "closed"
    assert row["status_notes"] == "已取消"


# Filters


def test_the_default_window_is_the_last_90_days_and_dates_narrow_it(client, wechat, clock) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")  # 1, 2026-11-23
    clock.advance(days=30)
    wechat.say(LIU, "楼道灯不亮了")  # 2, 2026-12-23
    clock.advance(days=65)
    wechat.say(SUN, "低保怎么办理")  # 3, 2027-02-26: ticket 1 is now 95 days old
    assert ids(get_requests(client)) == [3, 2]
    assert ids(get_requests(client, start_date="2026-12-01")) == [3, 2]  # 90 days from the start
    assert ids(get_requests(client, end_date="2026-12-01T00:00:00+08:00")) == [1]
    between = {"start_date": "2026-11-01T00:00:00Z", "end_date": "2026-12-31T00:00:00Z"}
    assert ids(get_requests(client, **between)) == [2, 1]
    assert ids(get_requests(client, **between | {"start_date": "2026-11-23T02:00:01Z"})) == [2]
    instant = "2026-11-23T10:00:00+08:00"  # when ticket 1 was opened: both ends are inclusive
    assert ids(get_requests(client, start_date=instant, end_date=instant)) == [1]


def test_bad_dates_are_refused(client) -> None:
    def refusal(fmt: str = "json", **dates: str) -> str:
        return error(client.get(f"/open311/v2/requests.{fmt}", query_string=dates), 400, fmt)

    assert "90" in refusal(start_date="2026-01-01T00:00:00Z", end_date="2026-06-01T00:00:00Z")
    assert "end_date" in refusal(start_date="2026-06-01T00:00:00Z", end_date="2026-05-01T00:00:00Z")
    assert "start_date" in refusal("xml", start_date="yesterday")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_dates_at_the_ends_of_the_calendar_are_refused_not_a_crash(client, fmt: str) -> None:
    """0001-01-01 has no day before it and 9999-12-31 no window after it: both are 400, never 500."""
    for dates in (
        {"start_date": "0001-01-01"},
        {"end_date": "0001-01-01"},
        {"start_date": "9999-12-31"},
        {"end_date": "9999-12-31T23:59:59-12:00"},
        {"start_date": "0001-01-01T00:00:00Z", "end_date": "0001-01-02T00:00:00Z"},
        {"start_date": "9999-12-30", "end_date": "9999-12-31"},
    ):
        response = client.get(f"/open311/v2/requests.{fmt}", query_string=dates)
        description = error(response, 400, fmt)
        assert (
            next(iter(dates)) in description and "1970-01-01" in description and "2999-12-31" in description
        )
    assert get_requests(client, start_date="1970-01-01", end_date="1970-03-01") == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_request_numbers_past_64_bits_are_not_found(client, wechat: WeChatServer, fmt: str) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    for number in ("2147483648", "9223372036854775807", "9223372036854775808", "9" * 30, "1" * 5000):
        assert number[:20] in error(client.get(f"/open311/v2/requests/{number}.{fmt}"), 404, fmt)
    huge = ",".join(["1", "2147483648", "9223372036854775808", "9" * 5000])
    assert ids(get_requests(client, service_request_id=huge)) == [1]
    assert get_requests(client, service_request_id="18446744073709551616") == []


def test_status_service_code_and_id_filters(client, wechat: WeChatServer) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")  # 1 repair.water
    wechat.say(LIU, "家里停电了")  # 2 repair.power
    wechat.say(SUN, "低保怎么办理")  # 3 inquiry
    wechat.say(WANG, "办结 1 已修好")
    assert ids(get_requests(client, status="closed")) == [1]
    assert ids(get_requests(client, status="open")) == [3, 2]
    assert ids(get_requests(client, status="open,closed")) == [3, 2, 1]
    assert ids(get_requests(client, service_code="repair.power,inquiry")) == [3, 2]
    assert ids(get_requests(client, service_code="repair.water", status="open")) == []
    # service_request_id overrides every other argument, and keeps the order asked for.
    overridden = {"status": "open", "start_date": "2030-01-01"}
    assert ids(get_requests(client, service_request_id="3,1", **overridden)) == [3, 1]
    assert "status" in error(client.get("/open311/v2/requests.json?status=pending"), 400)
    assert "emergency" in error(client.get("/open311/v2/requests.json?service_code=emergency"), 404)
    error(client.get("/open311/v2/requests.json?service_request_id=1,x"), 400)


def test_the_number_of_requests_returned_is_capped(tmp_path, factory, classifier, clock) -> None:
    capped = make_settings(tmp_path, GRIDDESK_OPEN311_MAX_REQUESTS="2")
    app = create_app(capped, factory, classifier, clock)
    wechat = WeChatServer(app.test_client(), capped.wechat, clock)
    for text in ("卫生间水管漏水了", "家里停电了", "暖气不热", "电梯坏了"):
        wechat.say(LIU, text)
        clock.advance(minutes=1)
    assert ids(get_requests(app.test_client())) == [4, 3]


def test_one_request_by_id_in_both_formats(client, wechat: WeChatServer) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    (row,) = get_both(client, "/open311/v2/requests/1", "service_requests", "request")
    check_request(row)
    assert row["service_request_id"] == "1"
    error(client.get("/open311/v2/requests/2.json"), 404)
    error(client.get("/open311/v2/requests/abc.xml"), 404, "xml")
    error(client.get("/open311/v2/tokens/1.json"), 404)


# Filing


def test_a_filed_request_is_a_ticket_pushed_to_the_grid_worker(
    client, factory, settings, clock, wechat
) -> None:
    response = file(
        client,
        service_code="repair.water",
        address_string="北京市朝阳区幸福里社区三号楼2单元301",
        lat="39.9042",
        long="116.4074",
        description="楼道里水管漏水,滴到楼下。联系人赵敏 13912345678",
        first_name="敏",
        last_name="赵",
        phone="13912345678",
        email="zhao@example.org",
        account_id="acct-77",
        media_url="https://12345.example.org/photos/1.jpg",
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    check_private(response.get_data(as_text=True))
    (created,) = response.get_json()
    check_fields(created, CREATED_FIELDS)
    assert created["service_request_id"] == "1" and created["account_id"] == "acct-77"
    assert created["service_notice"] == "已受理,由幸福里社区第一网格办理,预计11月24日 10:00前办结。"

    (ticket,) = tickets(factory)
    assert (ticket.category, ticket.kind, ticket.status) == ("repair", "water", "assigned")
    assert ticket.assignee.name == "王芳" and ticket.grid.code == "G1"
    assert ticket.events[0].kind == "opened" and ticket.events[0].actor == "open311:city12345"
    assert ticket.summary.endswith("(地点:北京市朝阳区幸福里社区三号楼2单元301)")
    (push,) = pushes(factory)
    assert push.recipient == WANG and push.kind == "new_ticket" and push.ticket_id == 1
    assert "楼道里水管漏水" in push.text and "赵敏 13912345678" in push.text and "地址:3号楼" in push.text
    printed = io.StringIO()
    assert dispatch_due(factory, ConsoleMessenger(printed), settings.dispatcher, clock()).sent == 1
    assert "王芳(demo-worker-wang)" in printed.getvalue() and "楼道里水管漏水" in printed.getvalue()

    with transaction(factory) as session:
        requester = session.get(Resident, ticket.resident_id)
        assert requester.openid.startswith("open311:") and requester.name == "赵敏"
        assert requester.phone == "13912345678" and not requester.subscribed
        assert requester.building_id is None  # no household: no visits, no register row
        message = session.scalar(select(InboundMessage).where(InboundMessage.ticket_id == 1))
        assert message.msg_type == "open311" and "api_key" not in message.raw and API_KEY not in message.raw

    (row,) = get_requests(client, service_request_id="1")
    assert row["description"] == "楼道里水管漏水,滴到楼下。联系人赵* ***********"
    assert row["address"] == "3号楼,幸福里社区" and row["address_id"] == "3号楼"
    assert (row["lat"], row["long"]) == (39.9042, 116.4074)
    assert row["media_url"] == "https://12345.example.org/photos/1.jpg"
    assert row["agency_responsible"] == "幸福里社区第一网格"

    # The requester has no WeChat: they follow the request here, and no push to them is queued.
    wechat.say(WANG, "签收 1")
    wechat.say(WANG, "办结 1 阀门已更换")
    assert {p.recipient for p in pushes(factory)} == {WANG}
    (row,) = get_requests(client, service_request_id="1")
    assert row["status"] == "closed" and row["status_notes"] == "已办结:阀门已更换"


def test_filing_in_xml_by_address_id(client, factory) -> None:
    by_id = {"address_string": None, "address_id": "5号楼"}
    response = file(client, "xml", service_code="inquiry", description="社区食堂几点开门?", **by_id)
    assert response.status_code == 200 and response.content_type == "text/xml; charset=utf-8"
    (created,) = xml_rows(response.get_data(as_text=True), "service_requests", "request")
    assert set(created) == set(CREATED_FIELDS) and created["service_request_id"] == "1"
    (ticket,) = tickets(factory)
    assert (ticket.category, ticket.kind) == ("inquiry", None) and ticket.assignee.name == "李骁"


def test_an_address_we_cannot_place_goes_to_the_duty_desk(client, factory) -> None:
    (created,) = file(
        client, address_string=None, lat="39.91", long="116.39", description="路灯不亮"
    ).get_json()
    assert "社区值班台" in created["service_notice"]
    (ticket,) = tickets(factory)
    assert ticket.grid is None and ticket.assignee.name == "社区值班台"
    assert ticket.summary == "路灯不亮(地点:坐标 39.91000,116.39000)"
    assert [p.recipient for p in pushes(factory)] == ["demo-community-duty"]
    (row,) = get_requests(client)
    assert row["address"] == "幸福里社区" and row["address_id"] is None and row["lat"] == 39.91


def test_a_report_that_sounds_like_an_emergency_is_told_the_numbers(client) -> None:
    (created,) = file(client, service_code="repair.gas", description="楼道里煤气泄漏了,味道很大").get_json()
    assert "119" in created["service_notice"]


def test_filing_needs_a_valid_key(client, factory) -> None:
    assert "api_key" in error(file(client, api_key=None), 403)
    error(file(client, api_key="wrong-key-000000"), 403)
    error(file(client, "xml", api_key=""), 403, "xml")
    assert tickets(factory) == []


def test_a_key_in_the_url_is_refused_the_form_field_or_header_is_taken(client, factory) -> None:
    """Query strings are logged by every proxy on the way: a key there is refused, even a right one."""
    form = {"service_code": "repair.water", "address_string": "幸福里社区3号楼"}
    for fmt in ("json", "xml"):
        in_url = client.post(f"/open311/v2/requests.{fmt}?api_key={API_KEY}", data=form)
        description = error(in_url, 400, fmt)
        assert "api_key" in description and "POST 表单" in description and "X-Api-Key" in description
        assert API_KEY not in in_url.get_data(as_text=True)
    assert "api_key" in error(client.get(f"/open311/v2/requests.json?api_key={API_KEY}"), 400)
    assert tickets(factory) == []
    by_header = client.post("/open311/v2/requests.json", data=form, headers={"X-Api-Key": API_KEY})
    assert by_header.status_code == 200 and by_header.get_json()[0]["service_request_id"] == "1"
    error(client.post("/open311/v2/requests.json", data=form, headers={"X-Api-Key": "wrong-key-000000"}), 403)
    assert [t.id for t in tickets(factory)] == [1]


def filing_app(tmp_path, factory, classifier, clock, per_minute: int) -> Flask:
    """A web process of its own on the shared database, with two clients and a POST limit."""
    keys = f"city12345:{API_KEY},district:other-key-67890"
    limited = make_settings(
        tmp_path, GRIDDESK_OPEN311_API_KEYS=keys, GRIDDESK_OPEN311_POSTS_PER_MINUTE=str(per_minute)
    )
    return create_app(limited, factory, classifier, clock)


def test_a_client_filing_too_fast_gets_429_with_retry_after(tmp_path, factory, classifier, clock) -> None:
    """The limit is per client and shared by every web process: the count lives in the database."""
    first = filing_app(tmp_path, factory, classifier, clock, per_minute=3).test_client()
    second = filing_app(tmp_path, factory, classifier, clock, per_minute=3).test_client()
    assert file(first).status_code == file(second).status_code == 200
    clock.advance(seconds=20)
    assert file(first, "xml").status_code == 200
    clock.advance(seconds=10)
    for client, fmt in ((second, "json"), (first, "xml")):
        refused = file(client, fmt, description="又漏水了")
        assert "每分钟最多提交 3 次" in error(refused, 429, fmt) and "30 秒后再试" in error(refused, 429, fmt)
        assert refused.headers["Retry-After"] == "30"
    assert [t.id for t in tickets(factory)] == [1, 2, 3] and len(pushes(factory)) == 3
    other_client = file(second, api_key="other-key-67890")
    assert other_client.status_code == 200  # another client's minute is its own
    clock.advance(seconds=30)
    assert file(second).status_code == 200  # a new minute
    assert len(tickets(factory)) == 5
    assert load_settings(environ={}).open311.posts_per_minute == 30


def test_simultaneous_posts_from_two_processes_never_exceed_the_limit(
    tmp_path, factory, classifier, clock
) -> None:
    """Twenty POSTs at once through two real servers: exactly the limit get through."""
    apps = [filing_app(tmp_path, factory, classifier, clock, per_minute=5) for _ in range(2)]
    form = {"api_key": API_KEY, "service_code": "repair.water", "address_string": "幸福里社区3号楼"}
    with on_loopback(apps[0]) as one, on_loopback(apps[1]) as two:
        urls = [f"{base}/open311/v2/requests.json" for base in (one, two)] * 10
        start = threading.Barrier(len(urls))

        def post(url: str) -> int:
            start.wait()
            return requests.post(url, data=form, timeout=30).status_code

        with ThreadPoolExecutor(len(urls)) as pool:
            statuses = sorted(pool.map(post, urls))
    assert statuses == [200] * 5 + [429] * 15
    assert len(tickets(factory)) == 5


BAD_REQUESTS = [  # fields changed from a good request, the HTTP status, a word the description names
    ({"service_code": None}, 400, "service_code"),
    ({"service_code": "emergency"}, 404, "emergency"),
    ({"service_code": "medicine"}, 404, "medicine"),
    ({"service_code": "repair"}, 404, "repair"),
    ({"address_string": None}, 400, "address_string"),
    ({"lat": "39.9"}, 400, "long"),
    ({"lat": "north", "long": "116.4"}, 400, "lat"),
    ({"lat": "95", "long": "116.4"}, 400, "lat"),
    ({"address_string": None, "address_id": "99号楼"}, 400, "address_id"),
    ({"description": "漏" * 4001}, 400, "description"),
    ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
    ({"phone": "call me maybe"}, 400, "phone"),
]


def test_bad_requests_are_refused_and_file_nothing(client, factory) -> None:
    for fields, status, word in BAD_REQUESTS:
        for fmt in ("json", "xml"):
            assert word in error(file(client, fmt, **fields), status, fmt), fields
    assert tickets(factory) == []


def test_a_jurisdiction_other_than_ours_is_not_found(tmp_path, factory, classifier, clock) -> None:
    ours = make_settings(tmp_path, GRIDDESK_OPEN311_JURISDICTION_ID="xingfuli.example.org")
    client = create_app(ours, factory, classifier, clock).test_client()
    assert client.get("/open311/v2/services.json?jurisdiction_id=xingfuli.example.org").status_code == 200
    assert client.get("/open311/v2/services.json").status_code == 200
    assert "jurisdiction_id" in error(client.get("/open311/v2/requests.json?jurisdiction_id=sfgov.org"), 404)


def test_the_api_can_be_switched_off(tmp_path, factory, classifier, clock) -> None:
    off = make_settings(tmp_path, GRIDDESK_OPEN311_ENABLED="false")
    client = create_app(off, factory, classifier, clock).test_client()
    error(client.get("/open311/v2/services.json"), 404)
    error(client.get("/open311/v2/requests.xml"), 404, "xml")


def test_nothing_personal_in_any_response(client, wechat: WeChatServer) -> None:
    """Every endpoint and format, after residents, a worker and a client have all written personal details."""
    wechat.say(ZHANG, "3号楼2单元301水管漏了,找张秀兰,13800000101,或者我儿子张伟13800000201")
    wechat.say(WANG, "进度 1 已电话联系张秀兰和张伟")
    wechat.say(LIU, "5号楼1单元502想咨询一下刘建华的补贴,电话 138-0000-0102")
    file(
        client,
        description="赵敏反映:电梯坏了,电话13912345678,邮箱zhao@example.org",
        first_name="敏",
        last_name="赵",
        phone="13912345678",
        email="zhao@example.org",
        service_code="repair.elevator",
    )
    bodies = []
    for path in ("services", "requests", "requests/1", "requests/2", "requests/3"):
        for fmt in ("json", "xml"):
            response = client.get(f"/open311/v2/{path}.{fmt}")
            assert response.status_code == 200
            bodies.append(response.get_data(as_text=True))
    check_private("\n".join(bodies))
    assert "502" not in "\n".join(bodies) and "301" not in "\n".join(bodies)


# A foreign client on a real server


@pytest.fixture
def live_base(app: Flask) -> Iterator[str]:
    """The app on a real threaded HTTP server on loopback; yields the GeoReport v2 base URL."""
    with on_loopback(app) as base:
        yield f"{base}/open311/v2"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_foreign_client_round_trip(live_base: str, factory, fmt: str) -> None:
    """PyPI's georeport lists services and reads requests; it cannot file, so filing is a plain form POST."""
    city = GeoReport(live_base, output_format=fmt)
    codes = {service["service_code"] for service in city.get_service_list()}
    assert codes == PUBLIC_SERVICES

    form = {
        "api_key": API_KEY,
        "service_code": "repair.power",
        "address_string": "幸福里社区6号楼",
        "description": "楼道灯不亮,晚上看不见台阶",
    }
    response = requests.post(f"{live_base}/requests.{fmt}", data=form, timeout=10)
    assert response.status_code == 200
    number = _created_id(response, fmt)

    read = city.get_service_request(number)
    assert read["service_request_id"] == number and read["status"] == "open"
    assert read["service_code"] == "repair.power" and read["description"] == "楼道灯不亮,晚上看不见台阶"
    assert read["address"] == "6号楼,幸福里社区" and read["agency_responsible"] == "幸福里社区第二网格"
    assert datetime.fromisoformat(read["requested_datetime"]).utcoffset() == timedelta(hours=8)
    listed = city.get_service_requests(service_code="repair.power", status="open")
    listed = listed if isinstance(listed, list) else [listed]  # xmltodict: one element is no list
    assert [row["service_request_id"] for row in listed] == [number]
    (ticket,) = tickets(factory)
    assert ticket.assignee.name == "李骁" and ticket.events[0].actor == "open311:city12345"


def _created_id(response: requests.Response, fmt: str) -> str:
    if fmt == "json":
        return response.json()[0]["service_request_id"]
    tree = ElementTree.fromstring(response.content)
    return tree.findtext("request/service_request_id") or ""


def test_the_requester_is_never_counted_as_a_household(client, factory) -> None:
    file(client, first_name="敏", last_name="赵", phone="13912345678")
    with transaction(factory) as session:
        housed = session.scalars(select(Resident).where(Resident.building_id.is_not(None))).all()
        assert {r.openid for r in housed} == {ZHANG, LIU, SUN}
        assert session.scalar(select(Ticket.grid_id)) is not None
