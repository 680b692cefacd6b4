"""What may leave through the public API: text with no names, phone numbers, rooms or e-mail addresses."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.privacy import mask_name

_DIGIT = "[0-9\uff10-\uff19]"
# Three or more digits, also written with spaces or dashes: phones, rooms, ID and card numbers.
_DIGIT_RUN = re.compile(rf"{_DIGIT}(?:[ \-\u2010-\u2015\uff0d]?{_DIGIT}){{2,}}")
_UNIT = re.compile(rf"(?:{_DIGIT}+|[一二两三四五六七八九十]+)(?=\s*单元)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DIGIT_CHAR = re.compile(_DIGIT)


def public_text(text: str | None, names: Iterable[str | None] = ()) -> str | None:
    """The text with known names masked (张*兰), digit runs and units starred, e-mail addresses hidden."""
    if text is None:
        return None
    for name in sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        text = text.replace(name, mask_name(name))
    text = _EMAIL.sub("***@***", text)
    text = _DIGIT_RUN.sub(lambda match: _DIGIT_CHAR.sub("*", match.group()), text)
    return _UNIT.sub(lambda match: "*" * len(match.group()), text)
