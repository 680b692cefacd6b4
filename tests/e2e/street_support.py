"""Two communities in one deployment, for the tenancy tests (docs/tenancy.md).

The second community, 和平里 (config/examples/heping.toml), is added the way an operator adds one
(`run.py community add`), with its own settings file and its Official Account's token in the
environment; the street is then opened as `serve` opens it. The fixtures reach every test through
tests/e2e/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import Client, TestResponse

import run
from bot.street import Street, open_street
from config.communities import CommunityEntry
from config.settings import PROJECT_ROOT, load_settings
from handlers.language.intents import IntentClassifier
from tests.conftest import DemoTemplates, database_url
from tests.e2e.console_support import PASSWORD, csrf
from tests.fakewechat import FakeWeChat
from tests.support import FakeClock, WeChatServer

HEPING_SETTINGS = PROJECT_ROOT / "config" / "examples" / "heping-settings.toml"
HEPING_DEMO = PROJECT_ROOT / "config" / "examples" / "heping.toml"
HEPING_TOKEN = "heping-token-2026"
# 和平里's own Official Account, beside the first community's (the fake's first account).
HEPING_APPID, HEPING_SECRET = "wx9876543210fedcba", "heping-app-secret"
STREET_TEMPLATE_ID = "tpl-street-default"
# Where the deployment's console is (the first community's; another's is under /c/<slug>).
STREET_CONSOLE = "https://street.example.org"


@pytest.fixture(scope="session")
def heping_templates(tmp_path_factory: pytest.TempPathFactory) -> DemoTemplates:
    """和平里's database migrated and loaded once a session per clock start, copied per test."""
    return DemoTemplates(tmp_path_factory.mktemp("heping-templates"), HEPING_DEMO)


@pytest.fixture
def street_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The deployment's environment: its own database, and 和平里's token in a variable of its own."""
    env = {
        "GRIDDESK_DATABASE_URL": database_url(tmp_path / "griddesk.db"),
        "GRIDDESK_DELIVERY_MEDIA_DIR": str(tmp_path / "media"),
        "GRIDDESK_COMMUNITIES_HEPING_WECHAT_TOKEN": HEPING_TOKEN,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def street(
    tmp_path: Path,
    street_environment: dict[str, str],
    clock: FakeClock,
    classifier: IntentClassifier,
    capsys: pytest.CaptureFixture[str],
    demo_templates: DemoTemplates,
    heping_templates: DemoTemplates,
) -> Iterator[Street]:
    """main and 和平里, added with `run.py community add`, opened as `serve` opens them.

    Both databases start as copies of migrated, loaded templates (tests/conftest.py DemoTemplates): the
    command then finds them at the newest schema with their demo, as a restart does.
    """
    street = opened_street(
        tmp_path, street_environment, clock, classifier, capsys, demo_templates, heping_templates
    )
    try:
        yield street.prepare()
    finally:
        street.close()


def opened_street(
    tmp_path: Path,
    environment: dict[str, str],
    clock: FakeClock,
    classifier: IntentClassifier,
    capsys: pytest.CaptureFixture[str],
    demo_templates: DemoTemplates,
    heping_templates: DemoTemplates,
) -> Street:
    """和平里 added to the deployment of `environment` with `run.py community add`, then the street opened."""
    heping_db = database_url(tmp_path / "heping.db")
    heping = CommunityEntry("heping", "和平里社区", heping_db, HEPING_SETTINGS)
    demo_templates.copy_into(load_settings(environ=environment), clock())
    heping_templates.copy_into(load_settings(environ=environment, community=heping), clock())
    added = run.main(
        [
            "community",
            "add",
            "heping",
            "--name",
            "和平里社区",
            "--database",
            heping_db,
            "--config",
            str(HEPING_SETTINGS),
        ]
    )
    assert added == 0, capsys.readouterr().err
    assert "/wechat/heping" in capsys.readouterr().out
    return open_street(
        load_settings(environ=environment),
        environ=environment,
        clock=clock,
        classifier=classifier,
    )


@pytest.fixture
def street_wechat() -> Iterator[FakeWeChat]:
    """One local WeChat serving both communities' Official Accounts (each its own appid and secret)."""
    fake = FakeWeChat(templates=[STREET_TEMPLATE_ID]).start()
    fake.add_account(HEPING_APPID, HEPING_SECRET)
    yield fake
    fake.stop()


@pytest.fixture
def live_street(
    tmp_path: Path,
    street_environment: dict[str, str],
    street_wechat: FakeWeChat,
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
    classifier: IntentClassifier,
    capsys: pytest.CaptureFixture[str],
    demo_templates: DemoTemplates,
    heping_templates: DemoTemplates,
) -> Iterator[Street]:
    """main and 和平里 live, each on its own Official Account at the fake WeChat; people as in `street`."""
    live = {
        "GRIDDESK_WECHAT_APPID": street_wechat.appid,
        "GRIDDESK_WECHAT_SECRET": street_wechat.secret,
        "GRIDDESK_COMMUNITIES_HEPING_WECHAT_APPID": HEPING_APPID,
        "GRIDDESK_COMMUNITIES_HEPING_WECHAT_SECRET": HEPING_SECRET,
        "GRIDDESK_DELIVERY_API_BASE_URL": street_wechat.mp_base_url,
        "GRIDDESK_DELIVERY_REQUEST_TIMEOUT_SECONDS": "2",
        "GRIDDESK_TEMPLATES_DEFAULT_ID": STREET_TEMPLATE_ID,
        "GRIDDESK_DELIVERY_CONSOLE_URL": f"{STREET_CONSOLE}/console",
    }
    street_environment.update(live)
    for name, value in live.items():
        monkeypatch.setenv(name, value)
    street = opened_street(
        tmp_path, street_environment, clock, classifier, capsys, demo_templates, heping_templates
    )
    try:
        yield street.prepare()
    finally:
        street.close()


def webhook(street: Street, slug: str, clock: FakeClock, client: Client | None = None) -> WeChatServer:
    """WeChat as it calls one community's webhook, signing with that community's own token."""
    runtime = street.runtime(slug)
    path = "/wechat" if slug == "main" else f"/wechat/{slug}"
    return WeChatServer(client or browser(street), runtime.settings.wechat, clock, path=path)


def browser(street: Street) -> Client:
    """A client of the whole deployment's app, keeping its cookies."""
    return Client(street.app)


def sign_in_at(client: Client, mount: str, login: str, next: str = "") -> TestResponse:
    """Fill in and send a community's sign-in form ('' for the first community's)."""
    token = csrf(client, f"{mount}/console/signin")
    form = {"login": login, "password": PASSWORD, "csrf_token": token, "next": next}
    return client.post(f"{mount}/console/signin", data=form)


def street_office(street: Street, clock: FakeClock, login: str = "jiedao") -> Client:
    """A browser signed in to the first community's console as the street office (role "street")."""
    from tests.e2e.console_support import make_account

    make_account(street.runtime("main").factory, clock, "孙街道", login, "street")
    client = browser(street)
    assert sign_in_at(client, "", login).status_code == 302
    return client
