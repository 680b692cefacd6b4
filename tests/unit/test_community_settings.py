"""A community's settings in a street deployment: the deployment's, with its own file and variables on top."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.communities import CommunityEntry, check_slug, unknown_community_variables
from config.settings import SettingsError, load_settings

BASE = {
    "GRIDDESK_DATABASE_URL": "sqlite:////srv/griddesk/griddesk.db",
    "GRIDDESK_CONSOLE_BASE_URL": "https://desk.example.org",
    "GRIDDESK_DELIVERY_MEDIA_DIR": "/srv/griddesk/media",
    "GRIDDESK_WECHAT_TOKEN": "main-token",
}
HEPING_DB = "sqlite:////srv/griddesk/communities/heping.db"


def heping(config_file: Path | None = None) -> CommunityEntry:
    return CommunityEntry("heping", "和平里社区", HEPING_DB, config_file)


def test_a_community_has_its_own_name_database_media_and_addresses_and_the_rest_is_the_deployments() -> None:
    settings = load_settings(environ=BASE, community=heping())

    assert (settings.community_name, settings.database_url) == ("和平里社区", HEPING_DB)
    assert settings.delivery.media_dir == Path("/srv/griddesk/media/heping")
    assert settings.console.base_url == "https://desk.example.org/c/heping"
    assert (settings.community_slug, settings.mount) == ("heping", "/c/heping")
    assert settings.wechat.token == "main-token"  # not set for it: the deployment's
    assert settings.demo_path is None  # a community's sandbox loads only a demo it names


def test_its_file_and_then_its_variables_go_over_the_deployments(tmp_path: Path) -> None:
    own = tmp_path / "heping.toml"
    own.write_text('[wechat]\ntoken = "heping-file"\n[community]\nduty_phone = "010-87654321"\n')
    environ = BASE | {"GRIDDESK_COMMUNITIES_HEPING_WECHAT_TOKEN": "heping-env"}

    settings = load_settings(environ=environ, community=heping(own))
    first = load_settings(environ=environ)

    assert (settings.wechat.token, settings.duty_phone) == ("heping-env", "010-87654321")
    assert first.wechat.token == "main-token"  # the first community never reads another's variables


def test_the_database_and_server_are_the_deployments_and_refused_in_a_communitys_settings(
    tmp_path: Path,
) -> None:
    own = tmp_path / "heping.toml"
    own.write_text("[server]\nport = 8080\n")
    with pytest.raises(SettingsError, match=r"heping.toml: \[server\] is the deployment's"):
        load_settings(environ=BASE, community=heping(own))
    environ = BASE | {"GRIDDESK_COMMUNITIES_HEPING_DATABASE_URL": "sqlite:////tmp/x.db"}
    with pytest.raises(SettingsError, match=r"HEPING_DATABASE_URL: database\.url is the"):
        load_settings(environ=environ, community=heping())


def test_a_bad_value_of_a_community_names_its_variable() -> None:
    environ = BASE | {"GRIDDESK_COMMUNITIES_HEPING_CHECKINS_DEFAULT_TIME": "9点"}
    with pytest.raises(SettingsError, match=r"^GRIDDESK_COMMUNITIES_HEPING_CHECKINS_DEFAULT_TIME \(checkins"):
        load_settings(environ=environ, community=heping())
    misspelt = BASE | {"GRIDDESK_COMMUNITIES_HEPING_WECHAT_TOKN": "x"}
    with pytest.raises(
        SettingsError, match="GRIDDESK_COMMUNITIES_HEPING_WECHAT_TOKN: not a GridDesk setting"
    ):
        load_settings(environ=misspelt, community=heping())


def test_a_variable_naming_no_community_is_found_and_slugs_are_plain() -> None:
    environ = BASE | {
        "GRIDDESK_COMMUNITIES_HEPNG_WECHAT_TOKEN": "x",
        "GRIDDESK_COMMUNITIES_HEPING_WECHAT_TOKEN": "y",
    }
    assert unknown_community_variables(environ, {"heping"}) == "GRIDDESK_COMMUNITIES_HEPNG_WECHAT_TOKEN"
    assert unknown_community_variables(environ, {"heping", "hepng"}) is None
    assert check_slug("heping2") == "heping2"
    for bad in ("He", "he-ping", "2heping", "h", "he_ping"):
        with pytest.raises(SettingsError, match="lower-case letters and digits"):
            check_slug(bad)


def test_how_often_processes_look_at_the_register_is_the_deployments_and_checked(tmp_path: Path) -> None:
    assert load_settings(environ=BASE).street.register_poll_seconds == 30.0
    assert (
        load_settings(
            environ=BASE | {"GRIDDESK_STREET_REGISTER_POLL_SECONDS": "0.5"}
        ).street.register_poll_seconds
        == 0.5
    )
    for bad in ("0", "601", "soon"):
        with pytest.raises(
            SettingsError, match=r"^GRIDDESK_STREET_REGISTER_POLL_SECONDS \(street\.register_poll"
        ):
            load_settings(environ=BASE | {"GRIDDESK_STREET_REGISTER_POLL_SECONDS": bad})
    own = tmp_path / "heping.toml"
    own.write_text("[street]\nregister_poll_seconds = 5\n")
    with pytest.raises(SettingsError, match=r"heping.toml: \[street\] is the deployment's"):
        load_settings(environ=BASE, community=heping(own))
