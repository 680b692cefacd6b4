"""A push's text poured into a template message's fields, line by line (see [templates] in griddesk.toml);
and the daily check-in ping's short values for a subscription message's typed fields ([subscriptions]).

WeChat refuses (47003) a field value over 20 characters or with a line break, so every value is put on
one line and cut to `templates.max_value_chars` (at most 20, checked at start-up).
"""

from __future__ import annotations

import re
from datetime import datetime

from config.settings import Template

# "地址:3号楼…" -> "3号楼…": a template shows its own label next to each keyword.
_LABEL = re.compile(r"^[^:：\s]{1,6}[:：]\s*(?P<value>.+)$")
_WHITESPACE = re.compile(r"\s+")
EMPTY = "-"


def template_data(template: Template, text: str, max_chars: int) -> dict[str, dict[str, str]]:
    """WeChat's `data` for a template message: the first line in the first field, the rest in order."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = len(template.fields) - 1
    values: list[str] = []
    for index in range(len(template.fields)):
        if index == last:
            value = " ".join(lines[index:])
        elif index < len(lines):
            value = lines[index] if index == 0 else drop_label(lines[index])
        else:
            value = ""
        values.append(cut(value or EMPTY, max_chars))
    return {name: {"value": value} for name, value in zip(template.fields, values, strict=True)}


def drop_label(line: str) -> str:
    """A line without its short leading label."""
    match = _LABEL.match(line)
    return match["value"] if match else line


def cut(value: str, max_chars: int) -> str:
    """One line of at most max_chars characters, marking a cut with an ellipsis."""
    value = _WHITESPACE.sub(" ", value).strip()
    return value if len(value) <= max_chars else value[: max_chars - 1] + "…"


# What a ping says in a subscription message's thing fields, in order (most needed first: what it is,
# how to answer): WeChat's typed fields take short values (thing: 20 characters), so these are written
# for them rather than cut from the push's lines.
PING_THINGS = {
    "checkin_ping": ("今日平安问候", "回复1报平安,回复2需要帮助", "今天身体还好吗?"),
    "checkin_reminder": ("平安问候提醒", "回复1报平安,回复2需要帮助", "还没收到您的平安回复"),
}
# phrase fields take at most 5 Chinese characters.
PING_PHRASE = "平安问候"
THING_CHARS = 20


def subscription_data(fields: tuple[str, ...], kind: str, local_now: datetime) -> dict[str, dict[str, str]]:
    """WeChat's `data` for the ping's subscription message: each field filled by its type (thing1, time2)."""
    things = iter(PING_THINGS.get(kind, PING_THINGS["checkin_ping"]))
    values = {}
    for name in fields:
        kind_of_field = name.rstrip("0123456789")
        day = f"{local_now.year}年{local_now.month}月{local_now.day}日"
        if kind_of_field == "time":
            value = f"{day} {local_now:%H:%M}"
        elif kind_of_field == "date":
            value = day
        elif kind_of_field == "phrase":
            value = PING_PHRASE
        else:
            value = cut(next(things, EMPTY), THING_CHARS)
        values[name] = {"value": value}
    return values
