"""Writing the register out as CSV or XLSX under the template's headers: staff edit it and import it again."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import TextIO

from sqlalchemy.orm import Session

from handlers.register.entries import contacts_of, is_placeholder
from handlers.register.spreadsheets import csv_row, keep_as_text
from storage.models import Resident
from storage.repositories import households

PERSON_HEADERS = ("姓名", "电话", "楼号", "单元", "房号", "户别", "是否独居", "签到时间")
FAMILY_HEADER_PARTS = ("姓名", "关系", "电话", "微信openid")
OPENID_HEADER = "微信openid"
_CATEGORY_LABELS = {"hardship": "特困", "key": "重点", "ordinary": "普通"}


def family_headers(count: int) -> list[str]:
    """家属姓名, 家属关系, 家属电话, 家属微信openid, 家属2姓名 ... for count contacts."""
    return [f"家属{n if n > 1 else ''}{part}" for n in range(1, count + 1) for part in FAMILY_HEADER_PARTS]


TEMPLATE_HEADERS = (*PERSON_HEADERS, *family_headers(2), OPENID_HEADER)


def register_table(session: Session) -> tuple[list[str], list[list[str]]]:
    """Headers (the template's, plus 家属3... when needed) and one row per resident with an address."""
    residents = households.with_address(session)
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
    contacts = contacts_of(resident)
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
