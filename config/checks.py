"""What every setting must be (RULES) and the checks of settings that only make sense together."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def _check_together(values: Mapping[str, Any], origins: Mapping[str, Origin]) -> None:
    """Settings that only make sense together (safe mode and the AppID, WeCom's three parts, ...)."""
    _check_credentials(values, origins)
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


class _Invalid(Exception):
    """A value a rule refuses; `expected`, when given, replaces the rule's own description."""

    def __init__(self, expected: str = "") -> None:
        super().__init__(expected)
        self.expected = expected


class _Rule:
    """What one setting must be: check() returns the value in shape or raises _Invalid."""

    expected = "a value"
    secret = False

    def check(self, value: Any, from_env: bool) -> Any:
        """The value in shape; text from the environment is parsed here."""
        return value

    def show(self, value: Any) -> str:
        """The refused value for the error line; never a secret."""
        if self.secret:
            return f"a value of {len(str(value))} characters" if value != "" else "nothing"
        return repr(value)


class _Int(_Rule):
    """A whole number within a range; `zero` names what 0 means when 0 is allowed outside it."""

    def __init__(self, low: int, high: int, unit: str = "", zero: str = "") -> None:
        self.low, self.high, self.zero = low, high, zero
        what = f"a whole number{f' of {unit}' if unit else ''}"
        if zero and low == 0:
            self.expected = f"{what} from 0 ({zero}) to {high}"
        else:
            self.expected = (
                f"0 ({zero}) or {what} from {low} to {high}" if zero else f"{what} from {low} to {high}"
            )

    def check(self, value: Any, from_env: bool) -> int:
        if isinstance(value, str):
            if not re.fullmatch(r"\s*[+-]?\d+\s*", value):
                raise _Invalid
            value = _unquoted(int(value), from_env, self.expected)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid
        if not (self.low <= value <= self.high or (self.zero and value == 0)):
            raise _Invalid
        return value


class _Number(_Rule):
    """A number (a fraction allowed) above `low`, or from `low` when `inclusive`, and at most `high`."""

    def __init__(self, low: float, high: float, unit: str = "", inclusive: bool = False) -> None:
        self.low, self.high, self.inclusive = low, high, inclusive
        what = f"a number{f' of {unit}' if unit else ''}"
        self.expected = (
            f"{what} from {low:g} to {high:g}"
            if inclusive
            else f"{what} more than {low:g} and at most {high:g}"
        )

    def check(self, value: Any, from_env: bool) -> float:
        if isinstance(value, str):
            try:
                value = _unquoted(float(value), from_env, self.expected)
            except ValueError:
                raise _Invalid from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid
        above_low = value >= self.low if self.inclusive else value > self.low
        if not (math.isfinite(value) and above_low and value <= self.high):
            raise _Invalid
        return float(value)


_BOOL_WORDS = {
    "true": True,
    "yes": True,
    "on": True,
    "1": True,
    "false": False,
    "no": False,
    "off": False,
    "0": False,
}


class _Bool(_Rule):
    """true or false; from the environment also yes/no, on/off, 1/0."""

    expected = "true or false"

    def check(self, value: Any, from_env: bool) -> bool:
        word = value.strip().lower() if isinstance(value, str) else None
        if from_env and word in _BOOL_WORDS:
            return _BOOL_WORDS[word]
        if word in ("true", "false"):
            raise _Invalid(f"{self.expected}, without quotes")
        if not isinstance(value, bool):
            raise _Invalid
        return value


class _Text(_Rule):
    """Text matching a pattern; empty is allowed when `optional`."""

    def __init__(self, expected: str, pattern: str = r"(?s).*", optional: bool = False, secret: bool = False):
        self.expected, self.pattern, self.optional, self.secret = expected, pattern, optional, secret

    def check(self, value: Any, from_env: bool) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"{self.expected}, in quotes")
        if not (value == "" and self.optional) and not re.fullmatch(self.pattern, value):
            raise _Invalid
        return value


class _TimeOfDay(_Rule):
    """A local time of day, 'HH:MM'; a TOML time (09:00:00) is taken too."""

    expected = "a time of day like 09:00"

    def check(self, value: Any, from_env: bool) -> str:
        if isinstance(value, datetime.time) and not (value.second or value.microsecond or value.tzinfo):
            return f"{value:%H:%M}"
        match = re.fullmatch(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*", value) if isinstance(value, str) else None
        if match is None:
            raise _Invalid
        return f"{int(match[1]):02d}:{match[2]}"


class _TimeZone(_Rule):
    """An IANA time zone name."""

    expected = "a time zone name like Asia/Shanghai"

    def check(self, value: Any, from_env: bool) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
            raise _Invalid from None
        return value


class _Url(_Rule):
    """An http(s) address; `base` ones lose a trailing '/' (paths are appended to them)."""

    def __init__(self, example: str, base: bool = False, optional: bool = False) -> None:
        self.base, self.optional = base, optional
        self.expected = f"an http(s) address like {example}{', or nothing' if optional else ''}"

    def check(self, value: Any, from_env: bool) -> str:
        if not isinstance(value, str):
            raise _Invalid
        url = value.strip().rstrip("/") if self.base else value.strip()
        if url == "" and self.optional:
            return ""
        # A path is fine; a query or fragment is not (addresses are built by appending to these).
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(?:/[A-Za-z0-9._~%/\-]*)?", url):
            raise _Invalid
        return url if self.base else value.strip()


class _DatabaseUrl(_Rule):
    """An SQLAlchemy database URL of a dialect SQLAlchemy ships, or empty (the SQLite file under var/)."""

    expected = (
        "an SQLAlchemy database URL like postgresql+psycopg://user:password@host/griddesk "
        "or sqlite:////srv/griddesk/griddesk.db, or nothing"
    )
    DIALECTS = r"(?:sqlite|postgresql|mysql|mariadb|oracle|mssql)"

    def check(self, value: Any, from_env: bool) -> str:
        if not isinstance(value, str):
            raise _Invalid
        if value and not re.fullmatch(rf"{self.DIALECTS}(?:\+\w+)?://\S*", value):
            raise _Invalid
        return value

    def show(self, value: Any) -> str:
        """The URL with any password masked."""
        return (
            repr(re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", value))
            if isinstance(value, str)
            else repr(value)
        )


class _Path(_Rule):
    """A file or folder path (relative ones are resolved against the project folder)."""

    def __init__(self, example: str, optional: bool = False) -> None:
        self.optional = optional
        self.expected = f"a path like {example}{', or nothing' if optional else ''}"

    def check(self, value: Any, from_env: bool) -> str:
        if not isinstance(value, str) or re.search(r"[\x00\r\n]", value):
            raise _Invalid
        if not value.strip() and not (self.optional and value == ""):
            raise _Invalid
        return value


class _Choice(_Rule):
    """One of a few words."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.expected = " or ".join(repr(choice) for choice in choices)

    def check(self, value: Any, from_env: bool) -> str:
        if value not in self.choices:
            raise _Invalid
        return value


class _Names(_Rule):
    """A comma-separated list of names, each matching a pattern."""

    def __init__(self, expected: str, pattern: str, at_least_one: bool = False) -> None:
        self.expected, self.pattern, self.at_least_one = expected, pattern, at_least_one

    def check(self, value: Any, from_env: bool) -> str:
        if not isinstance(value, str):
            raise _Invalid(f"{self.expected}, in quotes")
        names = names_in(value)
        if (self.at_least_one and not names) or not all(re.fullmatch(self.pattern, name) for name in names):
            raise _Invalid
        return value


class _ApiKeys(_Rule):
    """Open311 clients: comma-separated 'client:key' entries (a bare key: client 'client')."""

    expected = (
        "comma-separated 'client:key' entries, client names of letters, digits, '_', '.' or '-', "
        "keys of 8+ characters"
    )
    secret = True

    def check(self, value: Any, from_env: bool) -> str:
        if not isinstance(value, str) or not all(client_parts(entry) for entry in names_in(value)):
            raise _Invalid
        return value


def _unquoted(parsed: Any, from_env: bool, expected: str) -> Any:
    """Text parsed from the environment; in a config file a number or true/false goes without quotes."""
    if not from_env:
        raise _Invalid(f"{expected}, without quotes")
    return parsed


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
    "delivery.api_base_url": _Url("https://api.weixin.qq.com/cgi-bin/"),
    "delivery.wecom_api_base_url": _Url("https://qyapi.weixin.qq.com/cgi-bin/"),
    "delivery.token_endpoint": _Choice("stable", "classic"),
    "delivery.request_timeout_seconds": _Number(0, 120, "seconds"),
    "delivery.customer_service_window_hours": _Int(1, 48, "hours"),
    "delivery.quota_pause_seconds": _Number(0, 86400, "seconds", inclusive=True),
    "delivery.console_url": _Url("https://griddesk.example.org/console", optional=True),
    "delivery.media_dir": _Path("var/media"),
    "wecom.corp_id": _Text("a WeCom corp ID like ww0123456789abcdef, or nothing", r"[A-Za-z0-9]+", True),
    "wecom.secret": _Text("the WeCom app's secret, without spaces, or nothing", _SECRET, True, secret=True),
    "wecom.agent_id": _Int(0, 2**31 - 1, zero="no WeCom app"),
    "templates.max_value_chars": _Int(1, 1000, "characters"),
    "templates.*.id": _Text(
        "a template id of letters, digits, '-' or '_', or nothing", r"[A-Za-z0-9_\-]+", optional=True
    ),
    "templates.*.kinds": _Names("comma-separated push kinds like new_ticket,reassigned", r"[a-z][a-z0-9_]*"),
    "templates.*.fields": _Names(
        "comma-separated field names like first,keyword1,remark", r"[A-Za-z][A-Za-z0-9_]*", at_least_one=True
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


def names_in(value: str) -> tuple[str, ...]:
    """A comma-separated list from a config file or the environment."""
    return tuple(part.strip() for part in value.split(",") if part.strip())


def client_parts(entry: str) -> tuple[str, str] | None:
    """'name:key' names the client in the audit trail; a bare key belongs to a client called 'client'."""
    name, colon, key = entry.partition(":")
    name, key = (name.strip(), key.strip()) if colon else ("client", name.strip())
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,30}", name) or len(key) < 8:
        return None
    return name, key
