"""Rows of a register file: finding the header, and reading one row (or everything wrong with it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from handlers.register.cells import (
    NOTHING,
    Cell,
    CheckinChoice,
    cell_text,
    cell_word,
    limited,
    parse_address,
    parse_building,
    parse_category,
    parse_checkin,
    parse_name,
    parse_openid,
    parse_phone,
    parse_room,
    parse_unit,
    parse_yes_no,
)
from handlers.register.entries import Contact
from handlers.register.headers import Header, read_header
from handlers.register.limits import RegisterFileError
from storage.models import Building

HEADER_SEARCH_ROWS = 10
T = TypeVar("T")


@dataclass
class ParsedRow:
    """One good row of the file, resolved against the database's buildings."""

    line: int
    name: str | None
    building: Building
    unit: str | None
    room: str
    openid: str | None
    # Resident attributes set by the file's optional columns; a column the file lacks is left alone.
    fields: dict[str, Any]
    checkin: int | CheckinChoice | None
    family: list[Contact] | None


class RowError(ValueError):
    """Why a row cannot be loaded."""


def find_header(rows: Sequence[Sequence[Cell]]) -> tuple[int, Header]:
    """The header's index in rows and what its columns mean: the first row naming 姓名 and an address."""
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        header = read_header([cell_text(cell) for cell in cells])
        if header.has("name") and (header.has("building", "room") or header.has("address")):
            return index, header
    wanted = "姓名, 楼号 and 房号 (or 住址)"
    raise RegisterFileError(f"no header row with at least {wanted} in the first {HEADER_SEARCH_ROWS} rows")


# Optional columns: Resident attribute, column key, parser.
_OPTIONAL_FIELDS: tuple[tuple[str, str, Callable[[Cell], Any]], ...] = (
    ("phone", "phone", parse_phone),
    ("household_category", "category", parse_category),
    ("lives_alone", "alone", parse_yes_no),
)


def parse_row(
    line: int, cells: Sequence[Cell], columns: dict[int, str], buildings: dict[str, Building]
) -> ParsedRow:
    """A row as an entry, or RowError listing everything wrong with it."""
    values = {key: cells[index] if index < len(cells) else None for index, key in columns.items()}
    errors: list[str] = []

    def attempt(parse: Callable[[Cell], T], key: str) -> T | None:
        try:
            return parse(values.get(key))
        except ValueError as exc:
            errors.append(str(exc))
            return None

    name, openid = attempt(parse_name, "name"), attempt(parse_openid, "openid")
    if not cell_text(values.get("name")) and openid is None:
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
    checkin = attempt(parse_checkin, "checkin") if "checkin" in values else CheckinChoice.KEEP
    family = _family(values, errors) if any(key.startswith("family") for key in values) else None
    if errors or building is None or room is None:
        raise RowError("; ".join(errors))
    return ParsedRow(line, name, building, unit, room, openid, fields, checkin, family)


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
        if all(cell_word(value) in NOTHING for value in cell.values()):
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
    relation = limited("relation", cell_text(cell["relation"])) or None
    return name, relation, parse_phone(cell["phone"]), parse_openid(cell["openid"])
