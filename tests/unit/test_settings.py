"""Settings come from documented defaults, then a config file, then GRIDDESK_* variables; all checked."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from config.settings import DEFAULTS_FILE, PROJECT_ROOT, RULES, SettingsError, load_settings

APPID = "wx0123456789abcdef"


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


def test_every_documented_setting_has_a_rule() -> None:
    """A key added to config/griddesk.toml without a rule would only be checked for its type."""

    def keys(table: dict, prefix: str = "") -> list[str]:
        found = []
        for key, value in table.items():
            found += keys(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
        return found

    def patterned(key: str) -> str:
        parts = key.split(".")
        return ".".join([parts[0], "*", *parts[2:]]) if len(parts) > 2 else key

    documented = keys(tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8")))
    assert [key for key in documented if key not in RULES and patterned(key) not in RULES] == []


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "prod.toml"
    config.write_text(f'[wechat]\nappid = "{APPID}"\nsecret = "s"\n[server]\nport = 8000\n')
    settings = load_settings(
        environ={
            "GRIDDESK_CONFIG": str(config),
            "GRIDDESK_SERVER_PORT": "9000",
            "GRIDDESK_DEADLINES_REPAIR_ACK_MINUTES": "30",
        }
    )
    assert settings.wechat.appid == APPID and not settings.sandbox
    assert settings.port == 9000
    assert settings.deadline("repair").ack_minutes == 30


def test_values_are_put_into_shape(tmp_path: Path) -> None:
    config = tmp_path / "times.toml"
    config.write_text(
        "[checkins]\ndefault_time = 08:30:00\nquiet_start = '22:00'\n[dispatcher]\nbatch_size = 7\n"
    )
    settings = load_settings(
        config,
        environ={
            "GRIDDESK_CHECKINS_QUIET_END": "6:05",
            "GRIDDESK_OPEN311_ENABLED": "Off",
            "GRIDDESK_WEBHOOK_ALLOW_PLAINTEXT_IN_SAFE_MODE": "yes",
            "GRIDDESK_DISPATCHER_INTERVAL_SECONDS": "0.5",
            "GRIDDESK_CONSOLE_BASE_URL": "https://griddesk.example.org/",
        },
    )
    assert (settings.checkins.default_time, settings.checkins.quiet_start) == ("08:30", "22:00")
    assert settings.checkins.quiet_end == "06:05"
    assert settings.open311.enabled is False and settings.webhook.allow_plaintext_in_safe_mode is True
    assert settings.dispatcher.interval_seconds == 0.5 and settings.dispatcher.batch_size == 7
    assert settings.console.base_url == "https://griddesk.example.org"


def test_the_address_file_is_a_path_under_the_project_unless_absolute(tmp_path: Path) -> None:
    assert load_settings(environ={}).address_file == PROJECT_ROOT / "var" / "server.json"
    moved = load_settings(environ={"GRIDDESK_SERVER_ADDRESS_FILE": str(tmp_path / "server.json")})
    assert moved.address_file == tmp_path / "server.json"


def test_variables_that_are_not_settings_are_left_alone() -> None:
    settings = load_settings(
        environ={"GRIDDESK_TEST_DATABASE_URL": "postgresql+psycopg://x@h/db", "GRIDDESK_CONFIG": ""}
    )
    assert settings.port == 5000


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        (  # wrong type
            "GRIDDESK_SERVER_PORT",
            "eighty",
            "GRIDDESK_SERVER_PORT (server.port): expected a whole number from 1 to 65535, got 'eighty'",
        ),
        (  # out of range
            "GRIDDESK_DEADLINES_REPAIR_ACK_MINUTES",
            "-5",
            "GRIDDESK_DEADLINES_REPAIR_ACK_MINUTES (deadlines.repair.ack_minutes): "
            "expected a whole number of minutes from 1 to 10080, got '-5'",
        ),
        (
            "GRIDDESK_DISPATCHER_INTERVAL_SECONDS",
            "nan",
            "GRIDDESK_DISPATCHER_INTERVAL_SECONDS (dispatcher.interval_seconds): "
            "expected a number of seconds more than 0 and at most 3600, got 'nan'",
        ),
        (  # malformed time of day: the check-in jobs would fail every minute
            "GRIDDESK_CHECKINS_DEFAULT_TIME",
            "9点",
            "GRIDDESK_CHECKINS_DEFAULT_TIME (checkins.default_time): "
            "expected a time of day like 09:00, got '9点'",
        ),
        (
            "GRIDDESK_CHECKINS_QUIET_START",
            "24:00",
            "GRIDDESK_CHECKINS_QUIET_START (checkins.quiet_start): "
            "expected a time of day like 09:00, got '24:00'",
        ),
        (  # unknown time zone
            "GRIDDESK_TIMEZONE_NAME",
            "Asia/Beijing",
            "GRIDDESK_TIMEZONE_NAME (timezone.name): "
            "expected a time zone name like Asia/Shanghai, got 'Asia/Beijing'",
        ),
        (  # bad boolean: used to mean false
            "GRIDDESK_OPEN311_ENABLED",
            "ture",
            "GRIDDESK_OPEN311_ENABLED (open311.enabled): expected true or false, got 'ture'",
        ),
        (  # bad URL
            "GRIDDESK_DELIVERY_API_BASE_URL",
            "api.weixin.qq.com/cgi-bin/",
            "GRIDDESK_DELIVERY_API_BASE_URL (delivery.api_base_url): "
            "expected an http(s) address like https://api.weixin.qq.com/cgi-bin/, "
            "got 'api.weixin.qq.com/cgi-bin/'",
        ),
        (  # enumeration
            "GRIDDESK_DELIVERY_TOKEN_ENDPOINT",
            "sometimes",
            "GRIDDESK_DELIVERY_TOKEN_ENDPOINT (delivery.token_endpoint): "
            "expected 'stable' or 'classic', got 'sometimes'",
        ),
        (  # path
            "GRIDDESK_SPOOL_DIR",
            " ",
            "GRIDDESK_SPOOL_DIR (spool.dir): expected a path like var/spool, got ' '",
        ),
        (  # misspelt variable: it used to be ignored without a word
            "GRIDDESK_CHECKIN_DEFAULT_TIME",
            "09:00",
            "GRIDDESK_CHECKIN_DEFAULT_TIME: not a GridDesk setting "
            "(did you mean 'GRIDDESK_CHECKINS_DEFAULT_TIME'?); "
            "settings are GRIDDESK_<SECTION>_<KEY> after config/griddesk.toml",
        ),
        (  # a secret is never shown
            "GRIDDESK_WECHAT_SECRET",
            "abc def\n",
            "GRIDDESK_WECHAT_SECRET (wechat.secret): "
            "expected the AppSecret, without spaces, or nothing (sandbox), got a value of 8 characters",
        ),
        (  # nor a database password
            "GRIDDESK_DATABASE_URL",
            "postgres://griddesk:hunter2@db/griddesk",
            "GRIDDESK_DATABASE_URL (database.url): expected an SQLAlchemy database URL like "
            "postgresql+psycopg://user:password@host/griddesk or sqlite:////srv/griddesk/griddesk.db, "
            "or nothing, got 'postgres://griddesk:***@db/griddesk'",
        ),
    ],
)
def test_a_bad_variable_is_one_line_naming_it_the_key_and_what_is_expected(
    name: str, value: str, line: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={name: value})
    assert str(refused.value) == line


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        (  # misspelt key
            "[checkins]\ndefault_tme = '09:00'\n",
            "unknown setting 'checkins.default_tme' (did you mean 'checkins.default_time'?)",
        ),
        ("[chekins]\n", "unknown setting 'chekins' (did you mean 'checkins'?)"),
        (  # wrong type
            "[server]\nport = '8080'\n",
            "server.port: expected a whole number from 1 to 65535, without quotes, got '8080'",
        ),
        (
            "[open311]\nenabled = 'false'\n",
            "open311.enabled: expected true or false, without quotes, got 'false'",
        ),
        ("[open311]\nenabled = 1\n", "open311.enabled: expected true or false, got 1"),
        (
            "[community]\nduty_phone = 12345678\n",
            "community.duty_phone: expected a phone number like 010-12345678, in quotes, got 12345678",
        ),
        ("checkins = '09:00'\n", "checkins: expected a table [checkins], got '09:00'"),
        (  # out of range
            "[deadlines.repair]\nack_minutes = -5\n",
            "deadlines.repair.ack_minutes: expected a whole number of minutes from 1 to 10080, got -5",
        ),
        (
            "[escalation]\nwarn_at_fraction = 1.5\n",
            "escalation.warn_at_fraction: expected a number more than 0 and at most 0.99, got 1.5",
        ),
        (  # malformed time of day
            "[checkins]\ndefault_time = '9点'\n",
            "checkins.default_time: expected a time of day like 09:00, got '9点'",
        ),
        (  # unknown time zone
            "[timezone]\nname = 'Beijing'\n",
            "timezone.name: expected a time zone name like Asia/Shanghai, got 'Beijing'",
        ),
        (  # bad URL
            "[open311]\npublic_base_url = 'https://griddesk.example.org/?next=x'\n",
            "open311.public_base_url: expected an http(s) address like https://griddesk.example.org, "
            "or nothing, got 'https://griddesk.example.org/?next=x'",
        ),
    ],
)
def test_a_bad_config_file_is_one_line_naming_it_the_key_and_what_is_expected(
    tmp_path: Path, toml: str, line: str
) -> None:
    config = tmp_path / "griddesk-prod.toml"
    config.write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"GRIDDESK_CONFIG": str(config)})
    assert str(refused.value) == f"{config}: {line}"


def test_settings_that_need_each_other() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"GRIDDESK_WECHAT_AES_KEY": "a" * 43})
    assert str(refused.value) == (
        "GRIDDESK_WECHAT_AES_KEY (wechat.aes_key): expected wechat.appid to be set too "
        "(safe mode decrypts with the AppID), got no AppID"
    )
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"GRIDDESK_WECOM_CORP_ID": "ww1", "GRIDDESK_WECOM_AGENT_ID": "7"})
    assert str(refused.value) == (
        "GRIDDESK_WECOM_CORP_ID (wecom.corp_id): expected wecom.corp_id, wecom.secret and wecom.agent_id "
        "together, got only wecom.corp_id and wecom.agent_id"
    )


def test_deadlines_and_visit_reminders_that_contradict_themselves() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"GRIDDESK_DEADLINES_KNOCK_ACK_MINUTES": "240"})
    assert str(refused.value) == (
        "GRIDDESK_DEADLINES_KNOCK_ACK_MINUTES (deadlines.knock.ack_minutes): "
        "expected at most deadlines.knock.resolve_hours in minutes (180), got 240"
    )
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"GRIDDESK_VISITS_REMIND_DAYS_BEFORE": "7"})
    assert str(refused.value) == (
        "GRIDDESK_VISITS_REMIND_DAYS_BEFORE (visits.remind_days_before): "
        "expected fewer days than the shortest visit cadence (7), got 7"
    )


def test_a_missing_or_broken_config_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^config file not found: .*nowhere\.toml$"):
        load_settings(environ={"GRIDDESK_CONFIG": str(tmp_path / "nowhere.toml")})
    with pytest.raises(SettingsError, match=r"^cannot read the config file "):
        load_settings(environ={"GRIDDESK_CONFIG": str(tmp_path)})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = 1\n")
    with pytest.raises(SettingsError, match=r"is not valid TOML"):
        load_settings(environ={"GRIDDESK_CONFIG": str(broken)})


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
