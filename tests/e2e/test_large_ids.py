"""Numbers past 32 or 64 bits in URLs: no row can have them, so they are 404 (never a database 500)."""

from __future__ import annotations

import pytest

from tests.e2e.console_support import make_account, sign_in

ZHANG = "demo-resident-zhang"
PAST_64_BITS = ("2147483648", "9223372036854775808", "18446744073709551616", "9" * 40)


@pytest.mark.parametrize("number", PAST_64_BITS)
def test_console_ticket_and_media_numbers_past_64_bits_are_not_found(
    app, wechat, factory, clock, number
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    make_account(factory, clock, "社区值班台", "duty", "community")
    office = app.test_client()
    sign_in(office, "duty")
    assert office.get("/console/tickets/1").status_code == 200
    assert office.get(f"/console/tickets/{number}").status_code == 404
    assert office.get(f"/console/media/{number}").status_code == 404
    assert office.post(f"/console/tickets/{number}/acknowledge").status_code == 404
    assert office.get("/console/tickets/2147483647").status_code == 404  # the largest id: none yet
