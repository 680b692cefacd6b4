"""The addresses a community's pushes link to are its own console's, under /c/<slug> (docs/tenancy.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.communities import CommunityEntry
from config.settings import Settings, load_settings

HEPING = CommunityEntry("heping", "和平里社区", "sqlite:///heping.db")


def heping_settings(tmp_path: Path, own: str = "", **environ: str) -> Settings:
    """和平里's settings over a deployment with these variables (and its own file, when given)."""
    config = None
    if own:
        config = tmp_path / "heping.toml"
        config.write_text(own, encoding="utf-8")
    entry = CommunityEntry(HEPING.slug, HEPING.name, HEPING.database_url, config)
    return load_settings(environ=environ, community=entry)


def test_every_address_pushes_link_to_moves_under_the_community(tmp_path: Path) -> None:
    settings = heping_settings(
        tmp_path,
        GRIDDESK_CONSOLE_BASE_URL="https://desk.example.org/",
        GRIDDESK_REPORTS_CONSOLE_BASE_URL="https://reports.example.org",
        GRIDDESK_DELIVERY_CONSOLE_URL="https://desk.example.org/console/",
    )

    assert settings.console.base_url == "https://desk.example.org/c/heping"
    assert settings.reports.console_base_url == "https://reports.example.org/c/heping"
    assert settings.delivery.console_url == "https://desk.example.org/c/heping/console"


def test_a_deployment_under_a_path_keeps_it(tmp_path: Path) -> None:
    settings = heping_settings(tmp_path, GRIDDESK_DELIVERY_CONSOLE_URL="https://gov.example.cn/griddesk/console")

    assert settings.delivery.console_url == "https://gov.example.cn/griddesk/c/heping/console"


@pytest.mark.parametrize("elsewhere", ["https://desk.example.org/desk", "https://desk.example.org/console/x"])
def test_a_card_link_that_is_not_the_console_s_address_is_left_out_rather_than_wrong(
    tmp_path: Path, elsewhere: str
) -> None:
    assert heping_settings(tmp_path, GRIDDESK_DELIVERY_CONSOLE_URL=elsewhere).delivery.console_url == ""


def test_a_community_s_own_addresses_win(tmp_path: Path) -> None:
    own = '[delivery]\nconsole_url = "https://heping.example.org/console"\n'
    settings = heping_settings(
        tmp_path,
        own,
        GRIDDESK_DELIVERY_CONSOLE_URL="https://desk.example.org/console",
        GRIDDESK_COMMUNITIES_HEPING_REPORTS_CONSOLE_BASE_URL="https://heping.example.org",
        GRIDDESK_REPORTS_CONSOLE_BASE_URL="https://reports.example.org",
    )

    assert settings.delivery.console_url == "https://heping.example.org/console"
    assert settings.reports.console_base_url == "https://heping.example.org"


def test_nothing_set_stays_nothing(tmp_path: Path) -> None:
    settings = heping_settings(tmp_path)

    assert (settings.delivery.console_url, settings.reports.console_base_url) == ("", "")
