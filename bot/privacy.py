"""Masking of residents' personal data before it reaches a log line."""

from __future__ import annotations


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
