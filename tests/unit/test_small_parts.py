"""Address parsing, masking of personal data, and the time words residents read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handlers.language.privacy import mask_name, mask_openid, mask_phone
from handlers.messages.binding import Address, parse_address
from handlers.texts import duration, local_time


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("绑定3号楼2单元301", Address("3号楼", "2", "301")),
        ("3号楼2单元301", Address("3号楼", "2", "301")),
        ("三号楼二单元301室", Address("3号楼", "2", "301")),
        ("十二栋1单元1502", Address("12号楼", "1", "1502")),
        ("我住5号楼502", Address("5号楼", None, "502")),
    ],
)
def test_addresses_as_residents_write_them(text: str, address: Address) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["3号楼2单元301漏水了", "绑定", "卫生间水管漏水了", "301"])
def test_other_text_is_not_an_address(text: str) -> None:
    assert parse_address(text) is None


def test_personal_data_is_masked() -> None:
    assert mask_phone("13800000101") == "138****0101"
    assert mask_name("张秀兰") == "张*兰" and mask_name("李骁") == "李*"
    assert mask_openid("oAbCdEfGhIjKlMn") == "oAbC…KlMn"
    assert mask_phone(None) == mask_name("") == "-"


def test_durations_and_local_times_read_naturally() -> None:
    assert [duration(m) for m in (5, 120, 90, 24 * 60, 7 * 24 * 60)] == [
        "5分钟",
        "2小时",
        "1.5小时",
        "1天",
        "7天",
    ]
    assert local_time(datetime(2026, 11, 23, 10, 30, tzinfo=UTC), "Asia/Shanghai") == "11月23日 18:30"
