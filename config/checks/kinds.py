"""The kinds of rule a setting can have: whole numbers and numbers in a range, text, times, addresses, ..."""

from __future__ import annotations

import datetime
import math
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


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
    """An http(s) address (`websocket`: or ws(s)); `base` ones lose a trailing '/' (paths are appended)."""

    def __init__(
        self, example: str, base: bool = False, optional: bool = False, websocket: bool = False
    ) -> None:
        self.base, self.optional = base, optional
        self.schemes = "(?:https?|wss?)" if websocket else "https?"
        kinds = "an http(s) or ws(s) address" if websocket else "an http(s) address"
        self.expected = f"{kinds} like {example}{', or nothing' if optional else ''}"

    def check(self, value: Any, from_env: bool) -> str:
        if not isinstance(value, str):
            raise _Invalid
        url = value.strip().rstrip("/") if self.base else value.strip()
        if url == "" and self.optional:
            return ""
        # A path is fine; a query or fragment is not (addresses are built by appending to these).
        if not re.fullmatch(self.schemes + r"://[A-Za-z0-9.\-\[\]:]+(?:/[A-Za-z0-9._~%/\-]*)?", url):
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
