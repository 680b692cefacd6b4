"""RULES, what every setting must be, and check_values, which checks each value by its rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config.checks.kinds import (
    _ApiKeys,
    _Bool,
    _Choice,
    _DatabaseUrl,
    _Int,
    _Invalid,
    _Names,
    _Number,
    _Path,
    _Rule,
    _Text,
    _TimeOfDay,
    _TimeZone,
    _Url,
)
from config.checks.together import _check_together
from config.sources import Origin, SettingsError, get_value, set_value


def check_values(values: dict[str, Any], origins: Mapping[str, Origin], defaults: Mapping[str, Any]) -> None:
    """Check every setting by its rule, putting each into shape (text from the environment parsed)."""
    for key, origin in origins.items():
        rule = _rule_for(key, defaults[key])
        value = get_value(values, key)
        try:
            set_value(values, key, rule.check(value, origin.from_env))
        except _Invalid as invalid:
            raise SettingsError(
                f"{origin.where(key)}: expected {invalid.expected or rule.expected}, got {rule.show(value)}"
            ) from None
    _check_together(values, origins)


_SECRET = r"\S+"
_NO_SPACES = r"[^\s]+"

# Every setting of config/griddesk.toml and what it must be; '*' stands for any name in that place
# ([deadlines.repair], [templates.status]). tests/unit/test_settings.py checks that every key has a rule.
RULES: dict[str, _Rule] = {
    "database.url": _DatabaseUrl(),
    "server.host": _Text("a host name or IP address like 127.0.0.1 or 0.0.0.0", r"[A-Za-z0-9.\-:\[\]]+"),
    "server.port": _Int(1, 65535),
    "server.max_body_bytes": _Int(1024, 16 * 1024 * 1024, "bytes"),
    "server.proxy_hops": _Int(0, 5),
    "server.address_file": _Path("var/server.json"),
    "street.register_poll_seconds": _Number(0, 600, "seconds"),
    "wechat.token": _Text(
        "3 to 32 letters, digits, '-' or '_' (the Token of the server configuration)",
        r"[A-Za-z0-9_\-]{3,32}",
        secret=True,
    ),
    "wechat.appid": _Text(
        "an AppID: wx and 16 letters or digits, like wx0123456789abcdef", r"wx[A-Za-z0-9]{16}", True
    ),
    "wechat.secret": _Text("the AppSecret, without spaces, or nothing (sandbox)", _SECRET, True, secret=True),
    "wechat.aes_key": _Text(
        "the EncodingAESKey: 43 characters (letters and digits), or nothing",
        r"[A-Za-z0-9+/]{43}",
        True,
        secret=True,
    ),
    "webhook.timestamp_window_seconds": _Int(30, 3600, "seconds"),
    "webhook.allow_plaintext_in_safe_mode": _Bool(),
    "community.name": _Text("a name of 1 to 40 characters on one line", r"(?=.*\S)[^\r\n]{1,40}"),
    "community.duty_phone": _Text(
        "a phone number like 010-12345678", r"\+?[0-9][0-9 ()\-]{2,24}(?:(?:转|ext\.? ?)[0-9]{1,6})?"
    ),
    "throttle.messages_per_minute": _Int(0, 600, zero="off"),
    "binding.code_hours": _Int(1, 24 * 30, "hours"),
    "binding.max_wrong_codes": _Int(1, 10),
    "console.base_url": _Url("https://griddesk.example.org", base=True, optional=True),
    "console.secret_key": _Text(
        "at least 16 characters without spaces, or nothing (a random key kept in the database)",
        r"\S{16,}",
        True,
        secret=True,
    ),
    "console.session_hours": _Int(1, 24 * 30, "hours"),
    "console.link_hours": _Int(1, 24 * 7, "hours"),
    "console.signin_max_failures": _Int(1, 100),
    "console.signin_max_failures_per_address": _Int(0, 10000, zero="off"),
    "console.signin_lockout_minutes": _Int(1, 24 * 60, "minutes"),
    "dispatcher.interval_seconds": _Number(0, 3600, "seconds"),
    "dispatcher.batch_size": _Int(1, 1000),
    "dispatcher.max_attempts": _Int(1, 100),
    "dispatcher.backoff_seconds": _Number(0, 3600, "seconds", inclusive=True),
    "dispatcher.lease_seconds": _Number(0, 3600, "seconds"),
    # Below WeCom's own limits (30 and 1,000), which it enforces by dropping pushes without an error.
    "dispatcher.staff_per_minute": _Int(1, 29, "pushes"),
    "dispatcher.staff_per_hour": _Int(1, 999, "pushes"),
    "dispatcher.digest_after": _Int(1, 100, "pushes"),
    "delivery.api_base_url": _Url("https://api.weixin.qq.com/cgi-bin/"),
    "delivery.wecom_api_base_url": _Url("https://qyapi.weixin.qq.com/cgi-bin/"),
    "delivery.token_endpoint": _Choice("stable", "classic"),
    "delivery.request_timeout_seconds": _Number(0, 120, "seconds"),
    "delivery.customer_service_window_hours": _Int(1, 48, "hours"),
    "delivery.quota_pause_seconds": _Number(0, 86400, "seconds", inclusive=True),
    "delivery.console_url": _Url("https://griddesk.example.org/console", optional=True),
    "delivery.media_dir": _Path("var/media"),
    "delivery.customer_service_messages": _Choice("auto", "off"),
    "delivery.template_messages": _Choice("auto", "off"),
    "wecom.corp_id": _Text("a WeCom corp ID like ww0123456789abcdef, or nothing", r"[A-Za-z0-9]+", True),
    "wecom.secret": _Text("the WeCom app's secret, without spaces, or nothing", _SECRET, True, secret=True),
    "wecom.agent_id": _Int(0, 2**31 - 1, zero="no WeCom app"),
    # WeChat refuses a template field over 20 characters (47003).
    "templates.max_value_chars": _Int(1, 20, "characters"),
    "templates.*.id": _Text(
        "a template id of letters, digits, '-' or '_', or nothing", r"[A-Za-z0-9_\-]+", optional=True
    ),
    "templates.*.kinds": _Names("comma-separated push kinds like new_ticket,reassigned", r"[a-z][a-z0-9_]*"),
    "templates.*.fields": _Names(
        "comma-separated field names like keyword1,keyword2", r"[A-Za-z][A-Za-z0-9_]*", at_least_one=True
    ),
    "subscriptions.checkin_template_id": _Text(
        "a subscription template id of letters, digits, '-' or '_', or nothing", r"[A-Za-z0-9_\-]+", True
    ),
    "subscriptions.checkin_fields": _Names(
        "2 to 5 comma-separated fields named by type and number, like thing1,time2,thing3",
        r"(?:thing|time|date|phrase)[0-9]{1,2}",
        at_least_one=True,
    ),
    "escalation.sweep_interval_seconds": _Number(0, 3600, "seconds"),
    "escalation.warn_at_fraction": _Number(0, 0.99),
    "escalation.top_repeats": _Int(0, 100),
    "escalation.emergency_repage_minutes": _Int(1, 60, "minutes"),
    "escalation.emergency_overdue_repage_minutes": _Int(1, 24 * 60, "minutes"),
    "escalation.rating_timeout_hours": _Int(1, 24 * 30, "hours"),
    "escalation.max_extension_hours": _Int(1, 24 * 30, "hours"),
    "escalation.invite_hours": _Int(1, 24 * 30, "hours"),
    "checkins.default_time": _TimeOfDay(),
    "checkins.reminder_after_minutes": _Int(1, 12 * 60, "minutes"),
    "checkins.knock_after_minutes": _Int(1, 12 * 60, "minutes"),
    "checkins.quiet_start": _TimeOfDay(),
    "checkins.quiet_end": _TimeOfDay(),
    # 0 would skip every ping the minute sweep reaches a little late.
    "checkins.catch_up_hours": _Int(1, 23, "hours"),
    # SQLite takes at most 32,766 values in one statement; a slice's ids are one IN list.
    "checkins.sweep_slice_size": _Int(1, 10_000),
    "visits.hardship_days": _Int(1, 366, "days"),
    "visits.key_days": _Int(1, 366, "days"),
    "visits.ordinary_days": _Int(1, 366, "days"),
    "visits.remind_days_before": _Int(0, 30, "days"),
    "visits.digest_hour": _Int(0, 23),
    "reports.push_time": _TimeOfDay(),
    "reports.console_base_url": _Url("https://griddesk.example.org", base=True, optional=True),
    "open311.enabled": _Bool(),
    "open311.api_keys": _ApiKeys(),
    "open311.public_categories": _Names(
        "comma-separated categories like repair,inquiry,other", r"[a-z][a-z0-9_]*"
    ),
    "open311.jurisdiction_id": _Text("an id without spaces, or nothing", _NO_SPACES, True),
    "open311.window_days": _Int(1, 3660, "days"),
    "open311.max_requests": _Int(1, 10000),
    "open311.public_base_url": _Url("https://griddesk.example.org", base=True, optional=True),
    "open311.posts_per_minute": _Int(0, 10000, zero="no limit"),
    "register.max_rows": _Int(1, 1_000_000),
    "register.max_columns": _Int(1, 1000),
    "register.max_expanded_mb": _Int(1, 10_000, "MB"),
    "register.max_compression_ratio": _Int(1, 10_000),
    # Below a week, data still in use would go: a backlog's unprocessed messages, a rating just asked for.
    "retention.closed_ticket_days": _Int(7, 36500, "days", zero="keep for ever"),
    "retention.inbound_text_days": _Int(7, 36500, "days", zero="keep for ever"),
    "retention.sweep_interval_minutes": _Int(1, 24 * 60, "minutes"),
    "spool.dir": _Path("var/spool"),
    "spool.replay_interval_seconds": _Number(0, 3600, "seconds"),
    # Past WeChat's 5 seconds the sender has gone: a threshold there would queue nothing in time.
    "inbox.queue_after_seconds": _Number(0, 4.5, "seconds", inclusive=True),
    "inbox.workers": _Int(1, 16),
    "inbox.poll_seconds": _Number(0, 60, "seconds"),
    "inbox.lease_seconds": _Number(5, 3600, "seconds", inclusive=True),
    "speech.backend": _Choice("", "openai", "funasr"),
    "speech.url": _Url("http://10.0.0.5:8000/v1/audio/transcriptions", optional=True, websocket=True),
    "speech.model": _Text("a model name without spaces, like whisper-1", _NO_SPACES),
    "speech.language": _Text("a language code like zh, or nothing", r"[a-z]{2,3}", True),
    "speech.api_key": _Text("the server's API key, without spaces, or nothing", _SECRET, True, secret=True),
    "speech.timeout_seconds": _Number(1, 300, "seconds", inclusive=True),
    "paths.demo": _Path("config/demo.toml"),
    "paths.intents": _Path("config/intents.toml"),
    "paths.menu": _Path("config/menu.toml"),
    "paths.emergency_model": _Path("config/emergency-model.json", optional=True),
    "timezone.name": _TimeZone(),
    "deadlines.*.ack_minutes": _Int(1, 7 * 24 * 60, "minutes"),
    "deadlines.*.resolve_hours": _Int(1, 24 * 30, "hours"),
}


def _rule_for(key: str, default: Any) -> _Rule:
    """The rule for a dotted key: its own, else its '*' pattern's, else one by the type of its default."""
    parts = key.split(".")
    pattern = ".".join([parts[0], "*", *parts[2:]]) if len(parts) > 2 else key
    rule = RULES.get(key) or RULES.get(pattern)
    if rule is not None:
        return rule
    if isinstance(default, bool):
        return _Bool()
    if isinstance(default, int):
        return _Int(0, 10**9)
    if isinstance(default, float):
        return _Number(0, 10**9, inclusive=True)
    return _Text("text")
