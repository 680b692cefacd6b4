"""A push's text poured into a template message's fields, line by line (see [templates] in griddesk.toml).

WeChat refuses (47003) a field value over 20 characters or with a line break, so every value is put on
one line and cut to `templates.max_value_chars` (at most 20, checked at start-up).
"""

from __future__ import annotations

import re

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
