"""The clock every part is given: a function returning aware UTC; tests pass their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock, aware UTC."""
    return datetime.now(UTC)
