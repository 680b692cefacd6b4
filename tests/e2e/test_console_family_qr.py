"""The check-in board's 家属二维码 button: a one-time family code and its WeChat QR code, served as a PNG,
only for elders in the person's grids (the same path as `run.py wechat family-qr`)."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.app import create_app
from handlers.jobs.checkins import local_moment
from handlers.people.family_codes import hash_code
from storage.db import transaction
from storage.erasure import FORGOTTEN_PREFIX
from storage.models import CheckIn, FamilyCode, Resident
from tests.e2e.console_support import BASE_URL, csrf, make_account, sign_in, text
from tests.fakewechat import FakeWeChat
from tests.integration.conftest import live_settings

ZHANG = "demo-resident-zhang"  # grid G1, 王芳's
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    fake = FakeWeChat().start()
    yield fake
    fake.stop()


@pytest.fixture
def console_app(tmp_path, factory, classifier, clock, fake):
    """The console on live settings against the fake WeChat; 王芳 (G1) and 周强 (leader of G3 only)."""
    make_account(factory, clock, "王芳", "wangfang", "worker")
    make_account(factory, clock, "周强", "zhouqiang", "leader", ("G3",))
    live = live_settings(tmp_path, fake, GRIDDESK_CONSOLE_BASE_URL=BASE_URL)
    return create_app(live, factory, classifier, clock)


def zhang_pinged_today(factory, clock) -> int:
    """张秀兰 has today's check-in (so the board lists her); her resident id."""
    with transaction(factory) as session:
        zhang = session.scalars(select(Resident).where(Resident.openid == ZHANG)).one()
        day = local_moment(clock(), "Asia/Shanghai").day
        session.add(CheckIn(resident_id=zhang.id, day=day, status="pinged", pinged_at=clock()))
        return zhang.id


def codes(factory) -> list[FamilyCode]:
    with transaction(factory) as session:
        return list(session.scalars(select(FamilyCode)))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG that really decodes: every chunk's CRC, and IDAT inflating to the rows."""
    assert data.startswith(PNG_SIGNATURE)
    at, chunks = len(PNG_SIGNATURE), {}
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length : at + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    row = (width * depth * channels + 7) // 8 + 1  # a filter byte starts each row
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * row and b"IEND" in chunks
    return width, height


def test_a_worker_makes_a_family_qr_code_for_an_elder_from_the_check_in_board(
    console_app, factory, clock, fake
) -> None:
    zhang_id = zhang_pinged_today(factory, clock)
    client = console_app.test_client()
    sign_in(client, "wangfang")
    board = client.get("/console/checkins").get_data(as_text=True)
    assert f'action="/console/residents/{zhang_id}/family-qr"' in board and "家属二维码" in board

    token = csrf(client, "/console/checkins")
    shown = client.post(f"/console/residents/{zhang_id}/family-qr", data={"csrf_token": token})
    assert shown.status_code == 200
    page = text(shown)
    code = re.search(r"家属码: (\w{8}) ", page).group(1)
    assert "张秀兰的家属二维码" in page and "(24小时内有效,只能用一次)" in page
    assert list(fake.qr_codes) == [f"family:{code}"]  # the scene a scan hands to the webhook
    [stored] = codes(factory)
    assert (stored.code_hash, stored.elder_id, stored.issued_by, stored.used_at) == (
        hash_code(code),
        zhang_id,
        "王芳",
        None,
    )

    image = client.get(f"/console/residents/{zhang_id}/family-qr.png")
    assert (image.status_code, image.mimetype) == (200, "image/png")
    width, height = png_size(image.data)
    assert width == height >= 200  # square, big enough to scan from a screen
    assert image.headers["Cache-Control"] == "no-store"


def test_an_elder_outside_the_persons_grids_is_not_found_and_gets_no_code(
    console_app, factory, clock
) -> None:
    zhang_id = zhang_pinged_today(factory, clock)
    client = console_app.test_client()
    sign_in(client, "zhouqiang")
    token = csrf(client, "/console/checkins")
    assert "家属二维码" not in client.get("/console/checkins").get_data(as_text=True)
    assert (
        client.post(f"/console/residents/{zhang_id}/family-qr", data={"csrf_token": token}).status_code == 404
    )
    assert client.get(f"/console/residents/{zhang_id}/family-qr.png").status_code == 404
    assert codes(factory) == []


def test_when_wechat_refuses_the_qr_code_the_code_is_withdrawn(console_app, factory, clock, fake) -> None:
    zhang_id = zhang_pinged_today(factory, clock)
    client = console_app.test_client()
    sign_in(client, "wangfang")
    fake.fail_next(1, 45009, path="qrcode/create")
    token = csrf(client, "/console/checkins")
    page = text(client.post(f"/console/residents/{zhang_id}/family-qr", data={"csrf_token": token}))
    assert "微信暂时没能生成二维码,家属码已作废" in page
    assert codes(factory) == []
    assert client.get(f"/console/residents/{zhang_id}/family-qr.png").status_code == 404


def test_a_forgotten_residents_tombstone_gets_no_code(console_app, factory, clock) -> None:
    zhang_id = zhang_pinged_today(factory, clock)
    with transaction(factory) as session:  # what `resident forget` leaves: dated rows, no person
        session.get(Resident, zhang_id).openid = f"{FORGOTTEN_PREFIX}0123"
    client = console_app.test_client()
    sign_in(client, "wangfang")
    token = csrf(client, "/console/checkins")
    refused = client.post(f"/console/residents/{zhang_id}/family-qr", data={"csrf_token": token})
    assert refused.status_code == 404 and codes(factory) == []


def test_the_sandbox_says_a_live_account_is_needed_and_keeps_no_code(app, factory, clock) -> None:
    make_account(factory, clock, "王芳", "wangfang", "worker")
    zhang_id = zhang_pinged_today(factory, clock)
    client = app.test_client()
    sign_in(client, "wangfang")
    token = csrf(client, "/console/checkins")
    page = text(client.post(f"/console/residents/{zhang_id}/family-qr", data={"csrf_token": token}))
    assert "生成家属二维码需要正式公众号" in page and "家属码 地址" in page
    assert codes(factory) == []
