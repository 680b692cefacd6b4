"""The household register (台账): staff spreadsheets (CSV or XLSX) in and out, and binding to its entries.

Residents imported from a register have no WeChat openid yet; they get a placeholder (`register:<uuid>`)
until the person binds their address on WeChat and `adopt_register_entry` merges the entry into them.
"""

from __future__ import annotations

import codecs
import csv
import enum
import io
import re
import unicodedata
import uuid
import warnings
import zipfile
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any, TextIO, TypeVar
from xml.etree.ElementTree import ParseError

from sqlalchemy import Select, and_, delete, not_, or_, select, update
from sqlalchemy.orm import Session, aliased, selectinload

from handlers.language.normalize import int_from_text, simplify
from handlers.language.privacy import mask_phone
from handlers.register.headers import Header, read_header
from handlers.register.limits import (
    DEFAULT_LIMITS,
    ImportLimits,
    RegisterFileError,
    check_text_file,
    check_workbook,
    within_limits,
)
from handlers.register.spreadsheets import csv_row, keep_as_text, unquote_csv_cell
from storage.models import Base, Building, CheckIn, FamilyContact, Resident

PLACEHOLDER_PREFIX = "register:"
# People who filed a request through the Open311 API: residents with no WeChat account at all.
OPEN311_PREFIX = "open311:"
PERSON_HEADERS = ("姓名", "电话", "楼号", "单元", "房号", "户别", "是否独居", "签到时间")
FAMILY_HEADER_PARTS = ("姓名", "关系", "电话", "微信openid")
OPENID_HEADER = "微信openid"
HEADER_SEARCH_ROWS = 10

_CATEGORIES = {
    "hardship": ("特困", "特困户", "特困人员", "特困供养", "特困供养人员", "hardship"),
    # A 困难类型 column says 低保 where a 户别 column says 重点: such households are visited monthly.
    "key": ("重点", "重点户", "低保", "低保户", "key"),
    "ordinary": ("普通", "普通户", "一般", "一般户", "无", "ordinary", ""),
}
_CATEGORY_VALUES = {word: category for category, words in _CATEGORIES.items() for word in words}
_CATEGORY_LABELS = {"hardship": "特困", "key": "重点", "ordinary": "普通"}
_YES = {"是", "是的", "独居", "y", "yes", "1", "true", "√", "✓", "对"}
_NO = {"否", "不是", "非独居", "n", "no", "0", "false", "×", "x", ""}
_NO_CHECKIN = {"不签到", "无", "-"}
# What staff write in a cell for "none": someone without a phone, a row without a family contact.
_NOTHING = {"", "无", "暂无", "没有", "-", "/", "—"}
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
Contact = tuple[str, str | None, str | None, str | None]  # name, relation, phone, openid
T = TypeVar("T")


def family_headers(count: int) -> list[str]:
    """家属姓名, 家属关系, 家属电话, 家属微信openid, 家属2姓名 ... for count contacts."""
    return [f"家属{n if n > 1 else ''}{part}" for n in range(1, count + 1) for part in FAMILY_HEADER_PARTS]


TEMPLATE_HEADERS = (*PERSON_HEADERS, *family_headers(2), OPENID_HEADER)


class _Checkin(enum.Enum):
    """A check-in cell that names no time."""

    DEFAULT = "blank: the default time for those living alone"
    KEEP = "no column: keep the stored time"


@dataclass(frozen=True)
class BadRow:
    """A row that was not loaded, with its spreadsheet row number and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        """'row 7: phone '138****0000' is not a phone number'."""
        return f"row {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    bad: list[BadRow] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    # Why each column was left unread, or how an ambiguous one was read, in the staff's words.
    column_notes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """'created 3, updated 1, unchanged 5, bad 2'."""
        counts = f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}"
        return f"{counts}, bad {len(self.bad)}"


@dataclass
class _Entry:
    """One good row of the file, resolved against the database's buildings."""

    line: int
    name: str | None
    building: Building
    unit: str | None
    room: str
    openid: str | None
    # Resident attributes set by the file's optional columns; a column the file lacks is left alone.
    fields: dict[str, Any]
    checkin: int | _Checkin | None
    family: list[Contact] | None


class _RowError(ValueError):
    """Why a row cannot be loaded."""


def is_open311_requester(openid: str | None) -> bool:
    """True for someone known only through the Open311 API; they read their request's status there."""
    return bool(openid and openid.startswith(OPEN311_PREFIX))


def is_placeholder(openid: str | None) -> bool:
    """True for the openid of a register entry nobody has bound on WeChat yet."""
    return bool(openid and openid.startswith(PLACEHOLDER_PREFIX))


# Reading files


def read_rows(path: Path, limits: ImportLimits = DEFAULT_LIMITS) -> tuple[list[list[Cell]], list[str]]:
    """The rows of an XLSX file's first sheet or of a CSV file, and notes about what the reader dropped.

    A file bigger than the limits is refused before it is read (handlers/register/limits.py), and reading
    stops at the first row past max_rows or max_columns.
    """
    try:
        if zipfile.is_zipfile(path):
            check_workbook(path, limits)
            return _read_xlsx(path, limits)
        check_text_file(path, limits)
        return within_limits(_read_csv(path.read_bytes()), limits), []
    except OSError as exc:
        raise RegisterFileError(exc.strerror or str(exc)) from exc


def _read_xlsx(path: Path, limits: ImportLimits) -> tuple[list[list[Cell]], list[str]]:
    """Cell values (not formulas) of the first sheet, read in openpyxl's streaming read-only mode."""
    # Imported here: the webhook imports this module for binding and has no use for openpyxl.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    with warnings.catch_warnings(record=True) as caught:
        # openpyxl warns about parts it drops (styles, drawings, extensions); none holds register data,
        # so they are told to the operator as notes. Other warnings keep their usual handling.
        warnings.filterwarnings("always", category=UserWarning, module="openpyxl")
        try:
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (InvalidFileException, KeyError, ValueError, ParseError, zipfile.BadZipFile) as exc:
            raise RegisterFileError(f"not a readable XLSX workbook ({exc})") from exc
        try:
            sheet = workbook.worksheets[0]
            # Some programs record a wrong sheet size, which would cut the rows short.
            sheet.reset_dimensions()
            # Closed even when a limit stops the reading half-way, so the sheet's file is let go at once.
            with closing(sheet.iter_rows(values_only=True)) as cells:
                rows = within_limits((list(row) for row in cells), limits)
        except RegisterFileError:
            raise
        except (KeyError, ValueError, ParseError, zipfile.BadZipFile) as exc:
            raise RegisterFileError(f"not a readable XLSX workbook ({exc})") from exc
        finally:
            workbook.close()
    notes = []
    for warning in caught:
        if issubclass(warning.category, UserWarning) and "openpyxl" in warning.filename:
            notes.append(f"XLSX reader: {warning.message}")
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    return rows, notes


def _read_csv(data: bytes) -> list[list[Cell]]:
    """Records of a CSV file (or tab-separated text) in any encoding Excel saves."""
    text = _decode(data)
    delimiter = "\t" if text[:4096].count("\t") > text[:4096].count(",") else ","
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise RegisterFileError(f"not a readable CSV file ({exc})") from exc


def _decode(data: bytes) -> str:
    """UTF-8 with or without BOM, else GB18030 (what Excel on Chinese Windows saves), or UTF-16 with BOM."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise RegisterFileError("not a text file in UTF-8 or GB18030, nor an XLSX workbook")


# Recognising the header


def find_header(rows: Sequence[Sequence[Cell]]) -> tuple[int, Header]:
    """The header's index in rows and what its columns mean: the first row naming 姓名 and an address."""
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        header = read_header([_text(cell) for cell in cells])
        if header.has("name") and (header.has("building", "room") or header.has("address")):
            return index, header
    wanted = "姓名, 楼号 and 房号 (or 住址)"
    raise RegisterFileError(f"no header row with at least {wanted} in the first {HEADER_SEARCH_ROWS} rows")


# Parsing cells


def _text(value: Cell) -> str:
    """A cell as trimmed half-width text; whole-number floats lose '.0' (Excel keeps phones as numbers)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # An export's "'=..." cell (see handlers/register/spreadsheets.py) reads back as what it was.
    return unquote_csv_cell(unicodedata.normalize("NFKC", str(value))).strip()


def _word(value: Cell) -> str:
    """A cell as simplified, lower-case text without spaces, for matching fixed words and numbers."""
    return re.sub(r"\s+", "", simplify(_text(value)))


def _limited(key: str, text: str) -> str:
    """Refuse text longer than its database column."""
    if len(text) > _MAX_LENGTHS[key]:
        raise ValueError(f"{key} is longer than {_MAX_LENGTHS[key]} characters")
    return text


def parse_name(value: Cell) -> str | None:
    """A person's name; spaces that align short Chinese names in a sheet ('张  三') are dropped."""
    text = re.sub(r"\s+", " ", _text(value))
    if _CJK_NAME.match(text):
        text = text.replace(" ", "")
    return _limited("name", text) if text else None


def parse_phone(value: Cell) -> str | None:
    """'138 0000 0101', '+8613800000101' -> '13800000101'; '(010)12345678' -> '010-12345678'."""
    text = _text(value)
    if _word(text) in _NOTHING:
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

    text = _word(value)
    if not text:
        raise ValueError("building is missing")
    match = _BUILDING.match(text)
    return f"{int_from_text(match.group('number'))}号楼" if match else text


def parse_unit(value: Cell) -> str | None:
    """'2', '2单元', '二单元' -> '2', as binding stores units; blank -> None."""

    text = _word(value)
    if not text:
        return None
    match = _UNIT.match(text)
    if match is None:
        raise ValueError(f"unit '{text}' is not a unit number")
    return str(int_from_text(match.group("number")))


def parse_room(value: Cell) -> str:
    """'301', '301室' -> '301'."""
    text = _word(value)
    if not text:
        raise ValueError("room is missing")
    match = _ROOM.match(text)
    if match is None:
        raise ValueError(f"room '{text}' is not a room number")
    return match.group("number")


def parse_address(value: Cell) -> tuple[str, str | None, str]:
    """'3号楼2单元301', '幸福里三栋二单元301室', '3-2-301' -> ('3号楼', '2', '301')."""
    text = _word(value)
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
    text = _word(value)
    if text not in _CATEGORY_VALUES:
        raise ValueError(f"household category '{text}' is not one of 特困, 重点, 普通")
    return _CATEGORY_VALUES[text]


def parse_yes_no(value: Cell) -> bool:
    """是 / 是的 / Y / 1 / √ -> True; 否 / N / 0 / blank -> False."""
    text = _word(value)
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"lives alone '{text}' is neither 是 nor 否")


def parse_checkin(value: Cell) -> int | _Checkin | None:
    """'08:30', '8点半', an Excel time -> minutes after midnight; 不签到 -> None; blank -> the default."""
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    # A time cell in a workbook without styles reads as a fraction of a day.
    if isinstance(value, float) and 0 <= value < 1:
        return round(value * 24 * 60) % (24 * 60)
    text = _word(value)
    if not text:
        return _Checkin.DEFAULT
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
    text = re.sub(r"\s+", "", _text(value))
    return _limited("openid", text) if text else None


# Rows


# Optional columns: Resident attribute, column key, parser.
_OPTIONAL_FIELDS: tuple[tuple[str, str, Callable[[Cell], Any]], ...] = (
    ("phone", "phone", parse_phone),
    ("household_category", "category", parse_category),
    ("lives_alone", "alone", parse_yes_no),
)


def _parse_entry(
    line: int, cells: Sequence[Cell], columns: dict[int, str], buildings: dict[str, Building]
) -> _Entry:
    """A row as an entry, or _RowError listing everything wrong with it."""
    values = {key: cells[index] if index < len(cells) else None for index, key in columns.items()}
    errors: list[str] = []

    def attempt(parse: Callable[[Cell], T], key: str) -> T | None:
        try:
            return parse(values.get(key))
        except ValueError as exc:
            errors.append(str(exc))
            return None

    name, openid = attempt(parse_name, "name"), attempt(parse_openid, "openid")
    if not _text(values.get("name")) and openid is None:
        errors.append("name is missing")
    if "address" in values:
        building_name, unit, room = attempt(parse_address, "address") or (None, None, None)
    else:
        building_name, unit, room = (
            attempt(parse_building, "building"),
            attempt(parse_unit, "unit"),
            attempt(parse_room, "room"),
        )
    building = _known_building(building_name, buildings, errors)
    fields = {attr: attempt(parse, key) for attr, key, parse in _OPTIONAL_FIELDS if key in values}
    checkin = attempt(parse_checkin, "checkin") if "checkin" in values else _Checkin.KEEP
    family = _family(values, errors) if any(key.startswith("family") for key in values) else None
    if errors or building is None or room is None:
        raise _RowError("; ".join(errors))
    return _Entry(line, name, building, unit, room, openid, fields, checkin, family)


def _known_building(name: str | None, buildings: dict[str, Building], errors: list[str]) -> Building | None:
    """The community's building of that name; an unknown one is the row's error."""
    if name is None:
        return None
    if name not in buildings:
        errors.append(f"building '{name}' is not one of the community's buildings")
    return buildings.get(name)


def _family(values: dict[str, Cell], errors: list[str]) -> list[Contact]:
    """The family contacts of a row, in column order (家属, 家属2, ...); blank ones are skipped."""
    numbers = sorted({int(key[6:].split(".")[0]) for key in values if key.startswith("family")})
    contacts = []
    for number in numbers:
        cell = {
            part: values.get(f"family{number}.{part}") for part in ("name", "relation", "phone", "openid")
        }
        if all(_word(value) in _NOTHING for value in cell.values()):
            continue
        try:
            contacts.append(_contact(cell))
        except ValueError as exc:
            errors.append(f"family contact {number}: {exc}")
    return contacts


def _contact(cell: dict[str, Cell]) -> Contact:
    """One family contact; a name is needed for any other detail to be useful."""
    name = parse_name(cell["name"])
    if name is None:
        raise ValueError("name is missing")
    relation = _limited("relation", _text(cell["relation"])) or None
    return name, relation, parse_phone(cell["phone"]), parse_openid(cell["openid"])


# Importing


def import_register(
    session: Session,
    path: Path,
    *,
    default_checkin_minute: int,
    now: datetime,
    limits: ImportLimits = DEFAULT_LIMITS,
) -> ImportReport:
    """Create or update the residents a register file lists; bad rows are reported and skipped."""
    rows, notes = read_rows(path, limits)
    header, found = find_header(rows)
    columns = found.columns
    report = ImportReport(ignored_columns=found.ignored, column_notes=found.notes, notes=notes)
    buildings = {building.name: building for building in session.scalars(select(Building))}
    seen: dict[Resident, int] = {}
    for line, cells in enumerate(rows[header + 1 :], start=header + 2):
        if not any(_text(cell) for cell in cells):
            continue
        try:
            entry = _parse_entry(line, cells, columns, buildings)
            outcome = _store(session, entry, seen, default_checkin_minute, now)
        except _RowError as exc:
            report.bad.append(BadRow(line, str(exc)))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    session.flush()
    return report


def _store(
    session: Session, entry: _Entry, seen: dict[Resident, int], default_minute: int, now: datetime
) -> str:
    """Create or update the entry's resident; returns 'created', 'updated' or 'unchanged'."""
    resident = _find_resident(session, entry)
    if resident in seen:
        raise _RowError(f"same resident as row {seen[resident]}")
    created = resident is None
    if resident is None:
        if entry.name is None:
            raise _RowError("name is missing (needed for a resident not yet in the register)")
        resident = Resident(
            openid=entry.openid or f"{PLACEHOLDER_PREFIX}{uuid.uuid4().hex}",
            created_at=now,
            household_category="ordinary",
            lives_alone=False,
        )
        session.add(resident)
    changed = _apply(resident, entry, default_minute)
    seen[resident] = entry.line
    return "created" if created else "updated" if changed else "unchanged"


def _find_resident(session: Session, entry: _Entry) -> Resident | None:
    """By openid when the row has one, else by address and name (or the one unnamed WeChat user there)."""
    if entry.openid is not None:
        found = session.scalar(select(Resident).where(Resident.openid == entry.openid))
        if found is not None:
            return found
    if entry.name is None:
        return None
    here = list(session.scalars(_at_address(entry.building, entry.unit, entry.room)))
    named = [resident for resident in here if resident.name == entry.name]
    # Someone who bound this address on WeChat before the register arrived has no name yet. An address
    # is no proof of identity: a row with personal details stays an entry they must claim
    # (handlers/claims.py), the same as binding after the import.
    unnamed = [resident for resident in here if resident.name is None and not is_placeholder(resident.openid)]
    if _row_needs_proof(entry):
        unnamed = []
    candidates = named or (unnamed if len(unnamed) == 1 else [])
    if not candidates:
        return None
    if entry.openid is not None and not is_placeholder(candidates[0].openid):
        raise _RowError("openid differs from that of the WeChat user already bound as this resident")
    return candidates[0]


def _row_needs_proof(entry: _Entry) -> bool:
    """A row with a phone, a family, a check-in time or an elder living alone: see needs_proof."""
    fields = entry.fields
    return bool(
        fields.get("phone") or fields.get("lives_alone") or entry.family or isinstance(entry.checkin, int)
    )


def _at_address(building: Building, unit: str | None, room: str | None) -> Select[tuple[Resident]]:
    """Residents bound to one building, unit and room, oldest first."""
    same_unit = Resident.unit.is_(None) if unit is None else Resident.unit == unit
    query = select(Resident).where(Resident.building_id == building.id, same_unit, Resident.room == room)
    return query.order_by(Resident.id)


def _apply(resident: Resident, entry: _Entry, default_minute: int) -> bool:
    """Write the entry onto the resident; True when anything changed."""
    before = _snapshot(resident)
    was_alone = resident.lives_alone
    if entry.name is not None:
        resident.name = entry.name
    if entry.openid is not None:
        resident.openid = entry.openid
    resident.building, resident.unit, resident.room = entry.building, entry.unit, entry.room
    for attribute, value in entry.fields.items():
        setattr(resident, attribute, value)
    resident.checkin_minute = _checkin_minute(entry.checkin, resident, was_alone, default_minute)
    if entry.family is not None and _contacts(resident) != entry.family:
        resident.family = [
            FamilyContact(name=name, relation=relation, phone=phone, openid=openid)
            for name, relation, phone, openid in entry.family
        ]
    return _snapshot(resident) != before


def _checkin_minute(
    choice: int | _Checkin | None, resident: Resident, was_alone: bool, default: int
) -> int | None:
    """The file's time; blank: the default for those living alone; no column: kept unless 独居 changed."""
    if not isinstance(choice, _Checkin):
        return choice
    unchanged = resident.id is not None and resident.lives_alone == was_alone
    if choice is _Checkin.KEEP and unchanged:
        return resident.checkin_minute
    return default if resident.lives_alone else None


def _contacts(resident: Resident) -> list[Contact]:
    """The resident's family contacts as plain tuples."""
    return [(c.name, c.relation, c.phone, c.openid) for c in resident.family]


def _snapshot(resident: Resident) -> tuple[Any, ...]:
    """Everything an import may change, for telling updated from unchanged."""
    return (
        resident.openid,
        resident.name,
        resident.phone,
        resident.building,
        resident.unit,
        resident.room,
        resident.household_category,
        resident.lives_alone,
        resident.checkin_minute,
        _contacts(resident),
    )


# Exporting


def register_table(session: Session) -> tuple[list[str], list[list[str]]]:
    """Headers (the template's, plus 家属3... when needed) and one row per resident with an address."""
    query = select(Resident).where(Resident.building_id.is_not(None))
    loaded = query.options(selectinload(Resident.building), selectinload(Resident.family))
    residents = list(session.scalars(loaded))
    residents.sort(key=lambda r: (_natural(r.building.name), _natural(r.unit), _natural(r.room), r.id))
    family_columns = max([2, *(len(resident.family) for resident in residents)])
    headers = [*PERSON_HEADERS, *family_headers(family_columns), OPENID_HEADER]
    return headers, [_export_row(resident, family_columns) for resident in residents]


def _export_row(resident: Resident, family_columns: int) -> list[str]:
    """One resident under the export headers."""
    if resident.checkin_minute is not None:
        checkin = f"{resident.checkin_minute // 60:02d}:{resident.checkin_minute % 60:02d}"
    else:
        # Blank would mean "the default time" for someone living alone.
        checkin = "不签到" if resident.lives_alone else ""
    row = [
        resident.name or "",
        resident.phone or "",
        resident.building.name,
        resident.unit or "",
        resident.room or "",
        _CATEGORY_LABELS.get(resident.household_category, resident.household_category),
        "是" if resident.lives_alone else "否",
        checkin,
    ]
    contacts = _contacts(resident)
    for index in range(family_columns):
        contact = contacts[index] if index < len(contacts) else ("", None, None, None)
        row += [value or "" for value in contact]
    return [*row, "" if is_placeholder(resident.openid) else resident.openid]


def _natural(text: str | None) -> tuple[tuple[int, int, str], ...]:
    """Sort key putting '2号楼' before '10号楼'."""
    chunks = re.findall(r"\d+|\D+", text or "")
    return tuple((0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk) for chunk in chunks)


def export_register(session: Session, destination: Path | TextIO) -> int:
    """Write the register to a stream (CSV) or a file (XLSX when it ends in .xlsx); returns the row count."""
    headers, rows = register_table(session)
    if isinstance(destination, Path) and destination.suffix.lower() == ".xlsx":
        _write_xlsx(destination, headers, rows)
    elif isinstance(destination, Path):
        # With a BOM, Excel opens the file as UTF-8 instead of guessing the system code page.
        with destination.open("w", encoding="utf-8-sig", newline="") as handle:
            csv.writer(handle).writerows([headers, *map(csv_row, rows)])
    else:
        csv.writer(destination).writerows([headers, *map(csv_row, rows)])
    return len(rows)


def _write_xlsx(path: Path, headers: list[str], rows: list[list[str]]) -> None:
    """One sheet; every value is text (never a formula), so Excel keeps phones and times as written."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("台账")
    sheet.append(headers)
    for row in rows:
        sheet.append([keep_as_text(WriteOnlyCell(sheet, value)) if value else None for value in row])
    workbook.save(path)


# Binding


def needs_proof(entry: Resident) -> bool:
    """True when taking over the entry would hand someone personal details or an elder's check-in.

    Entries with a phone, family contacts or a check-in time, and elders living alone, are bound only
    with proof (handlers/claims.py). An entry of name, address and household category alone may be
    adopted by address: the binder learns nothing from it, and the worker sees a name for the flat.
    """
    return bool(entry.phone or entry.lives_alone or entry.family or entry.checkin_minute is not None)


def adopt_register_entry(session: Session, resident: Resident, entry: Resident | None = None) -> bool:
    """Merge a register entry (by default the one at the resident's address) into the resident's row.

    The register's details (name, phone, household category, living alone, check-in time, family)
    are copied onto the resident, whatever pointed at the entry (visits, check-ins ...) moves to the
    resident, and the entry is deleted. False when no entry, or several, could be the resident.
    Callers decide whether the resident has proven they may (handlers/claims.py).
    """
    session.flush()
    entry = entry if entry is not None else register_entry_for(session, resident)
    if entry is None or not is_placeholder(entry.openid):
        return False
    _copy_register_details(entry, resident)
    _move_references(session, entry, resident)
    session.delete(entry)
    session.flush()
    return True


def register_entry_for(session: Session, resident: Resident) -> Resident | None:
    """The one placeholder entry at the resident's address (by name too, when the resident has one)."""
    if resident.building is None or is_placeholder(resident.openid):
        return None
    return register_entry_at(session, resident.building, resident.unit, resident.room, resident.name)


def register_entry_at(
    session: Session, building: Building, unit: str | None, room: str | None, name: str | None = None
) -> Resident | None:
    """The one register entry nobody has bound on WeChat at this address (and of this name, if given)."""
    here = session.scalars(_at_address(building, unit, room))
    entries = [other for other in here if is_placeholder(other.openid)]
    if name is not None:
        entries = [entry for entry in entries if entry.name == name]
    return entries[0] if len(entries) == 1 else None


def residents_on_entries(session: Session) -> list[Resident]:
    """WeChat users bound by address alone where an unbound register entry lives, e.g. before an import."""
    entry = aliased(Resident)
    same_unit = or_(and_(Resident.unit.is_(None), entry.unit.is_(None)), Resident.unit == entry.unit)
    query = (
        select(Resident)
        .join(entry, and_(entry.building_id == Resident.building_id, same_unit, entry.room == Resident.room))
        .where(
            entry.openid.startswith(PLACEHOLDER_PREFIX),
            Resident.name.is_(None),
            not_(Resident.openid.startswith(PLACEHOLDER_PREFIX)),
            not_(Resident.openid.startswith(OPEN311_PREFIX)),
        )
        .distinct()
        .order_by(Resident.id)
    )
    return list(session.scalars(query))


def _copy_register_details(entry: Resident, resident: Resident) -> None:
    """The register knows the household; what the resident has and the register lacks is kept."""
    resident.name = entry.name or resident.name
    resident.phone = entry.phone or resident.phone
    resident.household_category = entry.household_category
    resident.lives_alone = entry.lives_alone
    resident.checkin_minute = entry.checkin_minute
    visits = [moment for moment in (resident.last_visit_at, entry.last_visit_at) if moment is not None]
    resident.last_visit_at = max(visits, default=None)
    if entry.family:
        resident.family = [
            FamilyContact(name=c.name, relation=c.relation, phone=c.phone, openid=c.openid)
            for c in entry.family
        ]


def _move_references(session: Session, entry: Resident, resident: Resident) -> None:
    """Point rows that referred to the entry at the resident, whichever tables they are in."""
    # A check-in day is unique per resident: the resident's own record of a day wins.
    own_days = select(CheckIn.day).where(CheckIn.resident_id == resident.id)
    session.execute(delete(CheckIn).where(CheckIn.resident_id == entry.id, CheckIn.day.in_(own_days)))
    # Other modules add tables that point at residents; any row left pointing at the entry would
    # block deleting it, so every foreign key to residents is followed, not a fixed list.
    for model, column_name in _resident_references():
        column = getattr(model, column_name)
        session.execute(update(model).where(column == entry.id).values({column_name: resident.id}))


def _resident_references() -> list[tuple[type[Base], str]]:
    """(model, attribute) for every mapped column holding a resident's id, family contacts aside."""
    residents_id = Resident.__table__.c.id
    found = []
    for mapper in Base.registry.mappers:
        if mapper.class_ is FamilyContact:
            continue
        for attribute in mapper.column_attrs:
            column = attribute.columns[0]
            if any(key.column is residents_id for key in column.foreign_keys):
                found.append((mapper.class_, attribute.key))
    return found
