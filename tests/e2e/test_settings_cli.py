"""A bad setting stops every command of run.py at once with one line: where it came from, the key, what is
expected. In particular the scheduler does not start (and then fail every minute) on a bad check-in time."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from run import main
from tests.conftest import database_url


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Only this test's GRIDDESK_* variables, on a database of its own should anything get that far."""
    for name in os.environ:
        if name.startswith("GRIDDESK_") and name != "GRIDDESK_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("GRIDDESK_DATABASE_URL", database_url(tmp_path / "griddesk.db"))
    yield


BAD_VARIABLES = [
    (
        "GRIDDESK_CHECKINS_DEFAULT_TIME",
        "9点",
        "GRIDDESK_CHECKINS_DEFAULT_TIME (checkins.default_time): "
        "expected a time of day like 09:00, got '9点'",
    ),
    (
        "GRIDDESK_TIMEZONE_NAME",
        "Asia/Beijing",
        "GRIDDESK_TIMEZONE_NAME (timezone.name): "
        "expected a time zone name like Asia/Shanghai, got 'Asia/Beijing'",
    ),
    (
        "GRIDDESK_DEADLINES_KNOCK_ACK_MINUTES",
        "-5",
        "GRIDDESK_DEADLINES_KNOCK_ACK_MINUTES (deadlines.knock.ack_minutes): "
        "expected a whole number of minutes from 1 to 10080, got '-5'",
    ),
    (
        "GRIDDESK_SERVER_PORT",
        "eighty",
        "GRIDDESK_SERVER_PORT (server.port): expected a whole number from 1 to 65535, got 'eighty'",
    ),
    (
        "GRIDDESK_OPEN311_ENABLED",
        "maybe",
        "GRIDDESK_OPEN311_ENABLED (open311.enabled): expected true or false, got 'maybe'",
    ),
    (
        "GRIDDESK_CONSOLE_BASE_URL",
        "griddesk.example.org",
        "GRIDDESK_CONSOLE_BASE_URL (console.base_url): expected an http(s) address like "
        "https://griddesk.example.org, or nothing, got 'griddesk.example.org'",
    ),
    (
        "GRIDDESK_WECHAT_TOKN",
        "abc",
        "GRIDDESK_WECHAT_TOKN: not a GridDesk setting (did you mean 'GRIDDESK_WECHAT_TOKEN'?); "
        "settings are GRIDDESK_<SECTION>_<KEY> after config/griddesk.toml",
    ),
]


@pytest.mark.parametrize(("name", "value", "line"), BAD_VARIABLES)
@pytest.mark.parametrize("command", [["tickets"], ["report", "--period", "day"], ["say", "--as", "x", "hi"]])
def test_a_bad_variable_stops_any_command_with_one_line(
    monkeypatch, capsys, command: list[str], name: str, value: str, line: str
) -> None:
    monkeypatch.setenv(name, value)

    assert main(command) == 2

    out, err = capsys.readouterr()
    assert (out, err) == ("", f"configuration error: {line}\n")


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        (
            "[checkins]\nquiet_end = '7点'\n",
            "checkins.quiet_end: expected a time of day like 09:00, got '7点'",
        ),
        (
            "[checkins]\nknock_after = 60\n",
            "unknown setting 'checkins.knock_after' (did you mean 'checkins.knock_after_minutes'?)",
        ),
        (
            "[templates.status]\nid = 'tpl-status'\nfields = 'first,keyword1,remark'\n",
            "templates.status.fields: expected fields WeChat still shows (no first or remark since "
            "May 2023), got 'first,keyword1,remark'",
        ),
        (
            "[templates.checkin]\nid = 'tpl-checkin'\nkinds = 'checkin_ping,family_alert'\n",
            "templates.checkin.kinds: expected no daily check-in pings (WeChat counts the same template "
            "every day as abuse; they go as subscription or customer-service messages), got checkin_ping",
        ),
        (
            "[subscriptions]\ncheckin_template_id = 'sub-1'\ncheckin_fields = 'thing1'\n",
            "subscriptions.checkin_fields: expected 2 to 5 distinct fields (a subscription template has 2 "
            "to 5 keywords), got 'thing1'",
        ),
        (
            "[subscriptions]\ncheckin_fields = 'thing1,keyword2'\n",
            "subscriptions.checkin_fields: expected 2 to 5 comma-separated fields named by type and number, "
            "like thing1,time2,thing3, got 'thing1,keyword2'",
        ),
        (
            "[templates]\nmax_value_chars = 200\n",
            "templates.max_value_chars: expected a whole number of characters from 1 to 20, got 200",
        ),
        (
            "[dispatcher]\nstaff_per_minute = 30\n",
            "dispatcher.staff_per_minute: expected a whole number of pushes from 1 to 29, got 30",
        ),
        (
            "[retention]\nclosed_ticket_days = '365'\n",
            "retention.closed_ticket_days: expected 0 (keep for ever) or a whole number of days "
            "from 7 to 36500, without quotes, got '365'",
        ),
    ],
)
def test_a_bad_config_file_stops_a_command_with_one_line_naming_the_file(
    monkeypatch, capsys, tmp_path: Path, toml: str, line: str
) -> None:
    config = tmp_path / "prod.toml"
    config.write_text(toml, encoding="utf-8")
    monkeypatch.setenv("GRIDDESK_CONFIG", str(config))

    assert main(["tickets"]) == 2

    assert capsys.readouterr() == ("", f"configuration error: {config}: {line}\n")


def test_the_scheduler_does_not_start_on_a_bad_check_in_time(monkeypatch, capsys) -> None:
    """Before, it started and the check-in jobs failed every minute: elders living alone got no ping."""
    monkeypatch.setenv("GRIDDESK_CHECKINS_DEFAULT_TIME", "9点")
    # Should the scheduler start after all, stop it (it stops on SIGINT) so the test fails instead of hanging.
    stopper = threading.Timer(60, signal.raise_signal, [signal.SIGINT])
    stopper.start()
    try:
        assert main(["scheduler"]) == 2
    finally:
        stopper.cancel()

    out, err = capsys.readouterr()
    assert "GridDesk scheduler" not in out
    assert err == (
        "configuration error: GRIDDESK_CHECKINS_DEFAULT_TIME (checkins.default_time): "
        "expected a time of day like 09:00, got '9点'\n"
    )


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"GRIDDESK_SPEECH_BACKEND": "openai", "GRIDDESK_SPEECH_URL": "whisper.local:8000/v1"},
            "GRIDDESK_SPEECH_URL (speech.url): expected an http(s) or ws(s) address like "
            "http://10.0.0.5:8000/v1/audio/transcriptions, or nothing, got 'whisper.local:8000/v1'",
        ),
        (
            {"GRIDDESK_SPEECH_BACKEND": "openai", "GRIDDESK_SPEECH_URL": "ws://10.0.0.5:10095"},
            "GRIDDESK_SPEECH_URL (speech.url): expected an http(s) address for the \"openai\" backend "
            "(ws:// and wss:// are FunASR's WebSocket server), got 'ws://10.0.0.5:10095'",
        ),
        (
            {"GRIDDESK_SPEECH_BACKEND": "whisper", "GRIDDESK_SPEECH_URL": "http://10.0.0.5:8000/"},
            "GRIDDESK_SPEECH_BACKEND (speech.backend): expected '' or 'openai' or 'funasr', got 'whisper'",
        ),
        (
            {"GRIDDESK_SPEECH_BACKEND": "funasr"},
            "GRIDDESK_SPEECH_BACKEND (speech.backend): expected speech.url to be set too, "
            "got 'funasr' without speech.url",
        ),
        (
            {
                "GRIDDESK_SPEECH_BACKEND": "openai",
                "GRIDDESK_SPEECH_URL": "http://10.0.0.5:8000/v1/audio/transcriptions",
                "GRIDDESK_SPEECH_TIMEOUT_SECONDS": "90",
            },
            "GRIDDESK_SPEECH_TIMEOUT_SECONDS (speech.timeout_seconds): "
            "expected fewer seconds than inbox.lease_seconds (60), got 90",
        ),
    ],
)
def test_a_bad_speech_server_setting_stops_serving_with_one_line(monkeypatch, capsys, env, line) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Should it serve after all, stop it (it stops on SIGINT) so the test fails instead of hanging.
    stopper = threading.Timer(60, signal.raise_signal, [signal.SIGINT])
    stopper.start()
    try:
        assert main(["serve", "--port", "0"]) == 2
    finally:
        stopper.cancel()

    assert capsys.readouterr() == ("", f"configuration error: {line}\n")
