"""When a reverse proxy took a request in, read from its X-Request-Start stamp."""

from __future__ import annotations

import pytest

from bot.arrival import waited_at_proxy

NOW = 1_795_000_010.0


@pytest.mark.parametrize(
    ("header", "waited"),
    [
        ("t=1795000007.500", 2.5),  # nginx's $msec
        ("1795000007.5", 2.5),
        ("t=1795000007500", 2.5),  # milliseconds
        ("t=1795000007500000", 2.5),  # microseconds
        (" t=1795000010 ", 0.0),
    ],
)
def test_a_stamp_in_seconds_milli_or_microseconds_says_how_long_ago(header: str, waited: float) -> None:
    assert waited_at_proxy(header, NOW) == pytest.approx(waited)


@pytest.mark.parametrize("header", [None, "", "t=", "t=abc", "t=1795000011", "t=1794990000", "t=-5", "t=1e9"])
def test_no_stamp_an_odd_one_or_one_from_the_future_or_long_ago_is_none(header: str | None) -> None:
    assert waited_at_proxy(header, NOW) is None
