"""[webhook] settings: the timestamp window and compatible mode, validated at start."""

from __future__ import annotations

import pytest

from config.settings import SettingsError, load_settings


def test_by_default_the_window_is_five_minutes_and_safe_mode_refuses_plaintext() -> None:
    webhook = load_settings(environ={}).webhook
    assert webhook.timestamp_window_seconds == 300
    assert webhook.allow_plaintext_in_safe_mode is False


def test_the_environment_sets_the_window_and_compatible_mode() -> None:
    webhook = load_settings(
        environ={
            "GRIDDESK_WEBHOOK_TIMESTAMP_WINDOW_SECONDS": "120",
            "GRIDDESK_WEBHOOK_ALLOW_PLAINTEXT_IN_SAFE_MODE": "true",
        }
    ).webhook
    assert webhook.timestamp_window_seconds == 120 and webhook.allow_plaintext_in_safe_mode


@pytest.mark.parametrize(
    "value, named",
    [
        ("0", "webhook.timestamp_window_seconds"),  # would refuse everything
        ("10", "webhook.timestamp_window_seconds"),  # shorter than WeChat's retries
        ("86400", "webhook.timestamp_window_seconds"),  # a day of replays
        ("five minutes", "GRIDDESK_WEBHOOK_TIMESTAMP_WINDOW_SECONDS"),
    ],
)
def test_a_window_out_of_bounds_is_a_clear_error(value: str, named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(environ={"GRIDDESK_WEBHOOK_TIMESTAMP_WINDOW_SECONDS": value})
