"""Settings come from documented defaults, then a config file, then GRIDDESK_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import SettingsError, load_settings


def test_defaults_are_a_sandbox_on_embedded_sqlite() -> None:
    settings = load_settings(environ={})
    assert settings.sandbox and not settings.wechat.safe_mode
    assert settings.wechat.token == "griddesk-sandbox"
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "var/griddesk.db"
    )
    assert (settings.host, settings.port) == ("127.0.0.1", 5000)
    assert settings.deadline("emergency").ack_minutes == 5
    assert settings.deadline("no-such-category") == settings.deadline("other")


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "prod.toml"
    config.write_text('[wechat]\nappid = "wx-from-file"\nsecret = "s"\n[server]\nport = 8000\n')
    settings = load_settings(
        environ={
            "GRIDDESK_CONFIG": str(config),
            "GRIDDESK_SERVER_PORT": "9000",
            "GRIDDESK_DEADLINES_REPAIR_ACK_MINUTES": "30",
        }
    )
    assert settings.wechat.appid == "wx-from-file" and not settings.sandbox
    assert settings.port == 9000
    assert settings.deadline("repair").ack_minutes == 30


def test_unknown_keys_in_a_config_file_are_reported(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("[wechat]\ntokn = 'x'\n")
    with pytest.raises(SettingsError, match=r"wechat\.tokn"):
        load_settings(config, environ={})


def test_bad_numbers_and_keys_are_clear_errors() -> None:
    with pytest.raises(SettingsError, match="GRIDDESK_SERVER_PORT"):
        load_settings(environ={"GRIDDESK_SERVER_PORT": "eighty"})
    with pytest.raises(SettingsError, match="43 characters"):
        load_settings(environ={"GRIDDESK_WECHAT_AES_KEY": "short"})


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("GRIDDESK_BINDING_MAX_WRONG_CODES", "0", "binding.max_wrong_codes"),
        ("GRIDDESK_BINDING_MAX_WRONG_CODES", "1000", "binding.max_wrong_codes"),
        ("GRIDDESK_BINDING_CODE_HOURS", "0", "binding.code_hours"),
        ("GRIDDESK_BINDING_CODE_HOURS", "soon", "GRIDDESK_BINDING_CODE_HOURS"),
    ],
)
def test_binding_code_limits_out_of_range_stop_start_up(name: str, value: str, named: str) -> None:
    with pytest.raises(SettingsError, match=named.replace(".", r"\.")):
        load_settings(environ={name: value})
