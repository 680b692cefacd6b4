"""Checks of settings that only make sense together (safe mode and the AppID, WeCom's three parts, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config.checks.kinds import names_in
from config.sections import DAILY_PING_KINDS
from config.sources import Origin, SettingsError

# Template fields WeChat stopped showing in May 2023: a push's first line put there would never be read.
RETIRED_TEMPLATE_FIELDS = ("first", "remark")


def _check_together(values: Mapping[str, Any], origins: Mapping[str, Origin]) -> None:
    """Settings that only make sense together (safe mode and the AppID, WeCom's three parts, ...)."""
    _check_credentials(values, origins)
    _check_templates(values, origins)
    _check_speech(values, origins)
    _check_subscription(values, origins)
    for kind, deadline in values["deadlines"].items():
        key, most = f"deadlines.{kind}.ack_minutes", deadline["resolve_hours"] * 60
        if deadline["ack_minutes"] > most:
            raise SettingsError(
                f"{origins[key].where(key)}: expected at most deadlines.{kind}.resolve_hours in minutes "
                f"({most}), got {deadline['ack_minutes']}"
            )
    visits = values["visits"]
    shortest = min(visits["hardship_days"], visits["key_days"], visits["ordinary_days"])
    if visits["remind_days_before"] >= shortest:
        raise SettingsError(
            f"{origins['visits.remind_days_before'].where('visits.remind_days_before')}: expected fewer days "
            f"than the shortest visit cadence ({shortest}), got {visits['remind_days_before']}"
        )


def _check_credentials(values: Mapping[str, Any], origins: Mapping[str, Origin]) -> None:
    """Safe mode needs the AppID; a WeCom app needs its corp id, secret and agent id."""
    if values["wechat"]["aes_key"] and not values["wechat"]["appid"]:
        raise SettingsError(
            f"{origins['wechat.aes_key'].where('wechat.aes_key')}: expected wechat.appid to be set too "
            "(safe mode decrypts with the AppID), got no AppID"
        )
    given = [f"wecom.{key}" for key in ("corp_id", "secret", "agent_id") if values["wecom"][key]]
    if 0 < len(given) < 3:
        raise SettingsError(
            f"{origins[given[0]].where(given[0])}: expected wecom.corp_id, wecom.secret and wecom.agent_id "
            f"together, got only {' and '.join(given)}"
        )


def _check_templates(values: Mapping[str, Any], origins: Mapping[str, Origin]) -> None:
    """Templates list only fields WeChat still shows (no first, no remark since May 2023)."""
    for name, template in values["templates"].items():
        if not isinstance(template, dict):
            continue  # max_value_chars
        kinds = f"templates.{name}.kinds"
        daily = [kind for kind in names_in(template["kinds"]) if kind in DAILY_PING_KINDS]
        if kinds in origins and daily:
            raise SettingsError(
                f"{origins[kinds].where(kinds)}: expected no daily check-in pings (WeChat counts the same "
                f"template every day as abuse; they go as subscription or customer-service messages), "
                f"got {', '.join(daily)}"
            )
        key = f"templates.{name}.fields"
        if key in origins and set(names_in(template["fields"])) & set(RETIRED_TEMPLATE_FIELDS):
            raise SettingsError(
                f"{origins[key].where(key)}: expected fields WeChat still shows (no first or remark since "
                f"May 2023), got {template['fields']!r}"
            )


def _check_speech(values: Mapping[str, Any], origins: Mapping[str, Origin]) -> None:
    """A speech backend needs its address (and an address its backend), and answers inside the lease."""
    speech = values["speech"]
    if bool(speech["backend"]) != bool(speech["url"]):
        key, missing = (
            ("speech.backend", "speech.url") if speech["backend"] else ("speech.url", "speech.backend")
        )
        raise SettingsError(
            f"{origins[key].where(key)}: expected {missing} to be set too, got {speech[key.split('.')[1]]!r} "
            f"without {missing}"
        )
    if speech["backend"] == "openai" and speech["url"].startswith(("ws://", "wss://")):
        raise SettingsError(
            f"{origins['speech.url'].where('speech.url')}: expected an http(s) address for the \"openai\" "
            f"backend (ws:// and wss:// are FunASR's WebSocket server), got {speech['url']!r}"
        )
    lease = values["inbox"]["lease_seconds"]
    if speech["backend"] and speech["timeout_seconds"] >= lease:
        key = "speech.timeout_seconds"
        raise SettingsError(
            f"{origins[key].where(key)}: expected fewer seconds than inbox.lease_seconds ({lease:g}), "
            f"got {speech['timeout_seconds']:g}"
        )


def _check_subscription(values: Mapping[str, Any], origins: Mapping[str, Origin]) -> None:
    """The check-in's subscription template has 2 to 5 distinct fields, as WeChat's templates do."""
    key = "subscriptions.checkin_fields"
    fields = names_in(values["subscriptions"]["checkin_fields"])
    if not 2 <= len(fields) <= 5 or len(set(fields)) != len(fields):
        raise SettingsError(
            f"{origins[key].where(key)}: expected 2 to 5 distinct fields (a subscription template has 2 to 5 "
            f"keywords), got {values['subscriptions']['checkin_fields']!r}"
        )
