"""One cell of a register row read as a resident's field: name, phone, address, category, check-in time.

Each parser takes what staff write (full-width, traditional, Chinese numerals, Excel numbers and times)
and returns the stored form, or raises ValueError saying what is wrong.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from datetime import datetime, time

from handlers.language.normalize import int_from_text, simplify
from handlers.language.privacy import mask_phone
from handlers.register.spreadsheets import unquote_csv_cell

_CATEGORIES = {
    "hardship": ("特困", "特困户", "特困人员", "特困供养", "特困供养人员", "hardship"),
    # A 困难类型 column says 低保 where a 户别 column says 重点: such households are visited monthly.
    "key": ("重点", "重点户", "低保", "低保户", "key"),
    "ordinary": ("普通", "普通户", "一般", "一般户", "无", "ordinary", ""),
}
_CATEGORY_VALUES = {word: category for category, words in _CATEGORIES.items() for word in words}
_YES = {"是", "是的", "独居", "y", "yes", "1", "true", "√", "✓", "对"}
_NO = {"否", "不是", "非独居", "n", "no", "0", "false", "×", "x", ""}
_NO_CHECKIN = {"不签到", "无", "-"}
# What staff write in a cell for "none": someone without a phone, a row without a family contact.
NOTHING = {"", "无", "暂无", "没有", "-", "/", "—"}
_BUILDING = re.compile(r"^(?P<number>[0-9零一二两三四五六七八九十]+)(?:号楼|号|栋|幢|楼|#楼|#)?$")
_UNIT = re.compile(r"^(?P<number>[0-9零一二两三四五六七八九十]+)(?:单元|门)?$")
_NUMBER = "[0-9零一二两三四五六七八九十]+"
# A whole address in one cell; anything before the building (the community's name) is passed over.
_ADDRESS = re.compile(
    rf"(?P<building>{_NUMBER})(?:号楼|号|栋|幢|楼|#)-?(?:(?P<unit>{_NUMBER})(?:单元|门)-?)?"
    r"(?P<room>[0-9]{1,6})(?:室|号|房)?$"
)
_DASHED_ADDRESS = re.compile(r"(?<![0-9])(?P<building>[0-9]+)-(?P<unit>[0-9]+)-(?P<room>[0-9]{1,6})$")
_ROOM = re.compile(r"^(?P<number>[0-9]{1,6})(?:室|号|房)?$")
_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9][0-9]{9})$")
# Beijing, Shanghai, Tianjin ... have 3-digit area codes (010, 02x); everywhere else has 4.
_LANDLINE = re.compile(r"^(0(?:10|2[0-9])|0[3-9][0-9]{2})-?([0-9]{7,8})(?:-([0-9]{1,6}))?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2})?$")
_CLOCK_WORDS = re.compile(r"^(\d{1,2})[点时](?:(\d{1,2})分?|(半))?$")
_CJK_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\s]+$")
_MAX_LENGTHS = {"name": 50, "relation": 20, "openid": 64, "unit": 10, "room": 10}
Cell = str | int | float | bool | time | datetime | None


class CheckinChoice(enum.Enum):
    """A check-in cell that names no time."""

    DEFAULT = "blank: the default time for those living alone"
    KEEP = "no column: keep the stored time"


def cell_text(value: Cell) -> str:
    """A cell as trimmed half-width text; whole-number floats lose '.0' (Excel keeps phones as numbers)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # An export's "'=..." cell (see handlers/register/spreadsheets.py) reads back as what it was.
    return unquote_csv_cell(unicodedata.normalize("NFKC", str(value))).strip()


def cell_word(value: Cell) -> str:
    """A cell as simplified, lower-case text without spaces, for matching fixed words and numbers."""
    return re.sub(r"\s+", "", simplify(cell_text(value)))


def limited(key: str, text: str) -> str:
    """Refuse text longer than its database column."""
    if len(text) > _MAX_LENGTHS[key]:
        raise ValueError(f"{key} is longer than {_MAX_LENGTHS[key]} characters")
    return text


def parse_name(value: Cell) -> str | None:
    """A person's name; spaces that align short Chinese names in a sheet ('张  三') are dropped."""
    text = re.sub(r"\s+", " ", cell_text(value))
    if _CJK_NAME.match(text):
        text = text.replace(" ", "")
    return limited("name", text) if text else None


def parse_phone(value: Cell) -> str | None:
    """'138 0000 0101', '+8613800000101' -> '13800000101'; '(010)12345678' -> '010-12345678'."""
    text = cell_text(value)
    if cell_word(text) in NOTHING:
        return None
    compact = re.sub(r"[\s()]", "", text)
    if match := _MOBILE.match(compact.replace("-", "")):
        return match.group(1)
    if match := _LANDLINE.match(compact):
        area, number, extension = match.groups()
        return f"{area}-{number}" + (f"-{extension}" if extension else "")
    raise ValueError(
        f"phone '{mask_phone(text)}' is not a phone number (a mobile, or a landline with its area code)"
    )


def parse_building(value: Cell) -> str:
    """'3', '3号楼', '三号楼', '3栋', '3#' -> '3号楼', the name binding gives buildings."""

    text = cell_word(value)
    if not text:
        raise ValueError("building is missing")
    match = _BUILDING.match(text)
    return f"{int_from_text(match.group('number'))}号楼" if match else text


def parse_unit(value: Cell) -> str | None:
    """'2', '2单元', '二单元' -> '2', as binding stores units; blank -> None."""

    text = cell_word(value)
    if not text:
        return None
    match = _UNIT.match(text)
    if match is None:
        raise ValueError(f"unit '{text}' is not a unit number")
    return str(int_from_text(match.group("number")))


def parse_room(value: Cell) -> str:
    """'301', '301室' -> '301'."""
    text = cell_word(value)
    if not text:
        raise ValueError("room is missing")
    match = _ROOM.match(text)
    if match is None:
        raise ValueError(f"room '{text}' is not a room number")
    return match.group("number")


def parse_address(value: Cell) -> tuple[str, str | None, str]:
    """'3号楼2单元301', '幸福里三栋二单元301室', '3-2-301' -> ('3号楼', '2', '301')."""
    text = cell_word(value)
    if not text:
        raise ValueError("address is missing")
    match = _ADDRESS.search(text) or _DASHED_ADDRESS.search(text)
    if match is None:
        raise ValueError(f"address '{text}' is not a building and room like 3号楼2单元301")
    unit = match.group("unit")
    building = f"{int_from_text(match.group('building'))}号楼"
    return building, str(int_from_text(unit)) if unit else None, match.group("room")


def parse_category(value: Cell) -> str:
    """特困 / 重点 / 普通 (blank: 普通) -> hardship / key / ordinary."""
    text = cell_word(value)
    if text not in _CATEGORY_VALUES:
        raise ValueError(f"household category '{text}' is not one of 特困, 重点, 普通")
    return _CATEGORY_VALUES[text]


def parse_yes_no(value: Cell) -> bool:
    """是 / 是的 / Y / 1 / √ -> True; 否 / N / 0 / blank -> False."""
    text = cell_word(value)
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"lives alone '{text}' is neither 是 nor 否")


def parse_checkin(value: Cell) -> int | CheckinChoice | None:
    """'08:30', '8点半', an Excel time -> minutes after midnight; 不签到 -> None; blank -> the default."""
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    # A time cell in a workbook without styles reads as a fraction of a day.
    if isinstance(value, float) and 0 <= value < 1:
        return round(value * 24 * 60) % (24 * 60)
    text = cell_word(value)
    if not text:
        return CheckinChoice.DEFAULT
    if text in _NO_CHECKIN:
        return None
    match = _CLOCK.match(text) or _CLOCK_WORDS.match(text)
    hours, minutes = (int(match.group(1)), _clock_minutes(match)) if match else (99, 0)
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"check-in time '{text}' is not a time of day like 08:30")
    return hours * 60 + minutes


def _clock_minutes(match: re.Match[str]) -> int:
    """Minutes of a matched clock time: '08:30' -> 30, '8点半' -> 30, '8点' -> 0."""
    if match.re is _CLOCK_WORDS and match.group(3):
        return 30
    return int(match.group(2) or 0)


def parse_openid(value: Cell) -> str | None:
    """A WeChat openid, or None when blank."""
    text = re.sub(r"\s+", "", cell_text(value))
    return limited("openid", text) if text else None
