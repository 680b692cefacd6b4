"""和平里 live (its own Official Account, at the fake WeChat): its WeCom cards link to its own console under
/c/heping, and its console's family QR code is made and served there (docs/tenancy.md). No public address
is set here but the cards': Open311's discovery file names 和平里's own endpoint all the same."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

import run
from bot.dispatcher import dispatch_due
from config.settings import PROJECT_ROOT
from storage.db import transaction
from storage.models import Resident, Worker
from tests.e2e.console_support import csrf, make_account, text
from tests.e2e.street_support import browser, sign_in_at, webhook
from tests.fakewechat import FakeWeChat

MOUNT = "/c/heping"
CONSOLE = f"{MOUNT}/console"
HE, MA = "heping-resident-he", "heping-resident-ma"  # 3号楼 (吴磊's grid), 1号楼 (周敏's, lives alone)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    """The fake WeChat: 和平里's Official Account and WeCom app, 吴磊 a member."""
    fake = FakeWeChat().start()
    fake.add_wecom_user("wu.lei")
    yield fake
    fake.stop()


@pytest.fixture
def street_environment(
    street_environment: dict[str, str], fake: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """和平里 with its own account's secret (so live, not a sandbox) and a WeCom app; cards link to the
    console (delivery.console_url) and pushes carry no one-time link (no console.base_url)."""
    live = {
        "GRIDDESK_DELIVERY_API_BASE_URL": fake.mp_base_url,
        "GRIDDESK_DELIVERY_WECOM_API_BASE_URL": fake.wecom_base_url,
        "GRIDDESK_DELIVERY_REQUEST_TIMEOUT_SECONDS": "2",
        "GRIDDESK_DELIVERY_CONSOLE_URL": "https://desk.example.org/console",
        "GRIDDESK_COMMUNITIES_HEPING_WECHAT_APPID": fake.appid,
        "GRIDDESK_COMMUNITIES_HEPING_WECHAT_SECRET": fake.secret,
        "GRIDDESK_COMMUNITIES_HEPING_WECOM_CORP_ID": fake.corp_id,
        "GRIDDESK_COMMUNITIES_HEPING_WECOM_SECRET": fake.corp_secret,
        "GRIDDESK_COMMUNITIES_HEPING_WECOM_AGENT_ID": str(fake.agent_id),
    }
    for name, value in live.items():
        monkeypatch.setenv(name, value)
    return street_environment | live


@pytest.fixture
def heping(street, clock, capsys):
    """和平里's people, loaded as an operator loads them: a live community's start loads no sandbox demo
    (the test database may be a copy that holds them already; loading again changes nothing)."""
    demo = str(PROJECT_ROOT / "config" / "examples" / "heping.toml")
    assert run.main(["--community", "heping", "community", "load", demo]) == 0, capsys.readouterr().err
    runtime = street.runtime("heping")
    assert not runtime.settings.sandbox
    make_account(runtime.factory, clock, "周敏", "zhoumin", "worker")
    return webhook(street, "heping", clock)


def test_a_heping_workers_wecom_card_links_to_heping_s_console(street, heping, fake, clock) -> None:
    runtime = street.runtime("heping")
    with transaction(runtime.factory) as session:
        wu = update(Worker).where(Worker.openid == "heping-worker-wu")
        session.execute(wu.values(wecom_userid="wu.lei"))
    heping.say(HE, "厨房水管漏水了,地上全是水")  # #1, 吴磊's

    dispatch_due(runtime.factory, runtime.messenger, runtime.settings.dispatcher, clock())

    [card] = [sent for sent in fake.sent if sent.api == "wecom"]
    assert card.to == "wu.lei"
    assert card.payload["textcard"]["url"] == f"https://desk.example.org{CONSOLE}/tickets/1"


def test_a_family_qr_code_is_made_and_shown_in_heping_s_console(street, heping, fake) -> None:
    with transaction(street.runtime("heping").factory) as session:
        ma = session.scalars(select(Resident).where(Resident.openid == MA)).one().id
    client = browser(street)
    assert sign_in_at(client, MOUNT, "zhoumin").status_code == 302
    token = csrf(client, f"{CONSOLE}/checkins")

    shown = client.post(f"{CONSOLE}/residents/{ma}/family-qr", data={"csrf_token": token})

    assert shown.status_code == 200 and "马淑芬的家属二维码" in text(shown)
    [code] = re.findall(r"家属码: (\w{8}) ", text(shown))
    assert list(fake.qr_codes) == [f"family:{code}"]
    [image] = re.findall(r'<img src="([^"]+)" alt="家属二维码"', shown.get_data(as_text=True))
    assert image == f"{CONSOLE}/residents/{ma}/family-qr.png"
    served = client.get(image)
    assert served.status_code == 200 and served.data.startswith(PNG_SIGNATURE)


def test_heping_s_open311_discovery_names_its_own_endpoint_on_the_server(street) -> None:
    client = browser(street)

    [endpoint] = client.get(f"{MOUNT}/open311/discovery.json").get_json()["endpoints"]

    assert endpoint["url"] == f"http://127.0.0.1:5000{MOUNT}/open311/v2"
    assert client.get(f"{MOUNT}/open311/v2/services.json").status_code == 200
    [home] = client.get("/open311/discovery.json").get_json()["endpoints"]
    assert home["url"] == "http://127.0.0.1:5000/open311/v2"
