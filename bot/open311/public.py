"""What may leave through the public API: text with no names, phone numbers, rooms or e-mail addresses."""

from __future__ import annotations

from collections.abc import Iterable

from handlers.language.privacy import mask_name, mask_numbers


def public_text(text: str | None, names: Iterable[str | None] = ()) -> str | None:
    """The text with known names masked (张*兰), numbers, units and rooms starred, e-mail addresses hidden."""
    if text is None:
        return None
    for name in sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        text = text.replace(name, mask_name(name))
    return mask_numbers(text)
