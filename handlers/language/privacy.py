"""Masking of residents' personal data before it reaches a log line or leaves the system."""

from __future__ import annotations

import re

# One digit as people write it, and as voice transcripts give it: ASCII and full-width digits, and
# Chinese numerals read digit by digit (幺 for 1 and 两 for 2 in phone numbers, 〇/零 for 0).
_DIGIT = "[0-9\uff10-\uff19零〇○一二两三四五六七八九幺壹贰叁肆伍陆柒捌玖]"
# What people put between the digits of a phone or ID number: spaces and dashes of every width.
_GAP = "[ \u3000\\-\u2010-\u2015\u2212\uff0d]?"
# Three or more digits, also written with spaces or dashes: phones, rooms, ID and card numbers.
_DIGIT_RUN = re.compile(rf"{_DIGIT}(?:{_GAP}{_DIGIT}){{2,}}")
# A unit, or a room written with tens and hundreds: 二单元, 十二单元, 三百零一室 (not 两室一厅).
_COUNTED = f"(?:{_DIGIT}|[十百拾佰])"
_UNIT_OR_ROOM = re.compile(rf"{_COUNTED}+(?=\s*单元)|{_COUNTED}{{2,}}(?=\s*(?:室|号房))")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ANY_DIGIT = re.compile(_DIGIT)


def mask_phone(phone: str | None) -> str:
    """138****8000: keep the first three and last four digits."""
    if not phone:
        return "-"
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "*" * len(phone)


def mask_name(name: str | None) -> str:
    """张*兰 / 张*: keep the family name (and the last character of longer names)."""
    if not name:
        return "-"
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_openid(openid: str | None) -> str:
    """oAb1…9xYz: enough to tell residents apart in a log, not enough to message them."""
    if not openid:
        return "-"
    return openid if len(openid) <= 8 else f"{openid[:4]}…{openid[-4:]}"


def mask_numbers(text: str) -> str:
    """Phones, rooms, units, ID numbers and e-mail addresses in free text starred, in digits and numerals.

    '电话一三八 一二三四 五六七八' -> '电话*** **** ****', '三号楼二单元三零一' -> '三号楼*单元***';
    a building's number and short counts ('3号楼', '等了2天', '三四天') stay readable.
    """
    text = _EMAIL.sub("***@***", text)
    text = _DIGIT_RUN.sub(lambda match: _ANY_DIGIT.sub("*", match.group()), text)
    return _UNIT_OR_ROOM.sub(lambda match: "*" * len(match.group()), text)
