"""Importing a register file: the residents it lists are created or updated; bad rows are reported."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from handlers.register.cells import CheckinChoice, cell_text
from handlers.register.entries import PLACEHOLDER_PREFIX, contacts_of, is_placeholder
from handlers.register.limits import DEFAULT_LIMITS, ImportLimits
from handlers.register.reading import read_rows
from handlers.register.rows import ParsedRow, RowError, find_header, parse_row
from storage.models import FamilyContact, Resident
from storage.repositories import households


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
    buildings = {building.name: building for building in households.buildings(session)}
    seen: dict[Resident, int] = {}
    for line, cells in enumerate(rows[header + 1 :], start=header + 2):
        if not any(cell_text(cell) for cell in cells):
            continue
        try:
            entry = parse_row(line, cells, columns, buildings)
            outcome = _store(session, entry, seen, default_checkin_minute, now)
        except RowError as exc:
            report.bad.append(BadRow(line, str(exc)))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    session.flush()
    return report


def _store(
    session: Session, entry: ParsedRow, seen: dict[Resident, int], default_minute: int, now: datetime
) -> str:
    """Create or update the entry's resident; returns 'created', 'updated' or 'unchanged'."""
    resident = _find_resident(session, entry)
    if resident in seen:
        raise RowError(f"same resident as row {seen[resident]}")
    created = resident is None
    if resident is None:
        if entry.name is None:
            raise RowError("name is missing (needed for a resident not yet in the register)")
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


def _find_resident(session: Session, entry: ParsedRow) -> Resident | None:
    """By openid when the row has one, else by address and name (or the one unnamed WeChat user there)."""
    if entry.openid is not None:
        found = households.by_openid(session, entry.openid)
        if found is not None:
            return found
    if entry.name is None:
        return None
    here = households.at_address(session, entry.building.id, entry.unit, entry.room)
    named = [resident for resident in here if resident.name == entry.name]
    # Someone who bound this address on WeChat before the register arrived has no name yet. An address
    # is no proof of identity: a row with personal details stays an entry they must claim
    # (handlers/people/claims/), the same as binding after the import.
    unnamed = [resident for resident in here if resident.name is None and not is_placeholder(resident.openid)]
    if _row_needs_proof(entry):
        unnamed = []
    candidates = named or (unnamed if len(unnamed) == 1 else [])
    if not candidates:
        return None
    if entry.openid is not None and not is_placeholder(candidates[0].openid):
        raise RowError("openid differs from that of the WeChat user already bound as this resident")
    return candidates[0]


def _row_needs_proof(entry: ParsedRow) -> bool:
    """A row with a phone, a family, a check-in time or an elder living alone: see needs_proof."""
    fields = entry.fields
    return bool(
        fields.get("phone") or fields.get("lives_alone") or entry.family or isinstance(entry.checkin, int)
    )


def _apply(resident: Resident, entry: ParsedRow, default_minute: int) -> bool:
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
    if entry.family is not None and contacts_of(resident) != entry.family:
        resident.family = [
            FamilyContact(name=name, relation=relation, phone=phone, openid=openid)
            for name, relation, phone, openid in entry.family
        ]
    return _snapshot(resident) != before


def _checkin_minute(
    choice: int | CheckinChoice | None, resident: Resident, was_alone: bool, default: int
) -> int | None:
    """The file's time; blank: the default for those living alone; no column: kept unless 独居 changed."""
    if not isinstance(choice, CheckinChoice):
        return choice
    unchanged = resident.id is not None and resident.lives_alone == was_alone
    if choice is CheckinChoice.KEEP and unchanged:
        return resident.checkin_minute
    return default if resident.lives_alone else None


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
        contacts_of(resident),
    )
