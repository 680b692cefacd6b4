"""How much a household register file may hold, checked before anything reads it in full.

An XLSX is a zip of XML: 400 KB can unpack to 460,000 rows, and openpyxl parses every sheet from end
to end when it opens a workbook (to find its size) before a single row can be counted. So a workbook
is judged first by its zip directory (total unpacked size, how tightly each part is packed), then by a
streaming count of the rows in each of its parts that stops at the first row past the limit. Python's
zipfile never unpacks more than an entry's declared size (and then checks its CRC), so a directory that
understates its sizes gets no further.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from xml.parsers import expat

# Parts smaller than this unpacked are neither judged by their packing nor scanned for rows.
CHECKED_FROM_BYTES = 1024 * 1024
_CHUNK = 64 * 1024
Row = TypeVar("Row", bound=list[Any])


class RegisterFileError(ValueError):
    """The file cannot be read, is too big to read, or has no recognisable header row."""


@dataclass(frozen=True)
class ImportLimits:
    """The most a register file may hold ([register] in config/griddesk.toml)."""

    max_rows: int = 50_000
    max_columns: int = 100
    max_expanded_mb: int = 100
    max_compression_ratio: int = 100

    @property
    def max_expanded_bytes(self) -> int:
        """max_expanded_mb in bytes."""
        return self.max_expanded_mb * 1024 * 1024


DEFAULT_LIMITS = ImportLimits()


def check_text_file(path: Path, limits: ImportLimits) -> None:
    """Refuse a CSV file larger than max_expanded_mb before it is read."""
    size = path.stat().st_size
    if size > limits.max_expanded_bytes:
        raise RegisterFileError(_too_big(size, limits))


def check_workbook(path: Path, limits: ImportLimits) -> None:
    """Refuse an XLSX that unpacks too big, is packed like a zip bomb, or has a part with too many rows."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            unpacked = sum(entry.file_size for entry in entries)
            if unpacked > limits.max_expanded_bytes:
                raise RegisterFileError(_too_big(unpacked, limits))
            for entry in entries:
                if entry.file_size > CHECKED_FROM_BYTES:
                    _check_packing(entry, limits)
                    _count_rows(archive, entry, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise RegisterFileError(f"not a readable XLSX workbook ({exc})") from exc


def within_limits(rows: Iterable[Row], limits: ImportLimits) -> list[Row]:
    """The rows, refused at the first one past max_rows or with a value past max_columns."""
    kept = []
    for number, row in enumerate(rows, start=1):
        if number > limits.max_rows:
            raise RegisterFileError(f"refused: more than {limits.max_rows} rows")
        if any(cell not in (None, "") for cell in row[limits.max_columns :]):
            raise RegisterFileError(f"refused: row {number} has more than {limits.max_columns} columns")
        kept.append(row)
    return kept


def _check_packing(entry: zipfile.ZipInfo, limits: ImportLimits) -> None:
    ratio = entry.file_size / max(entry.compress_size, 1)
    if ratio > limits.max_compression_ratio:
        raise RegisterFileError(
            f"refused: {entry.filename} unpacks {ratio:.0f} times its packed size "
            f"(at most {limits.max_compression_ratio}; a register is never packed that tight)"
        )


class _Stop(Exception):
    """Raised inside the XML parser's callbacks to stop reading at once."""


def _count_rows(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, limits: ImportLimits) -> None:
    """Stream one part and refuse it at its first <row> past max_rows (gaps in row numbers count)."""
    last = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal last
        if name.rpartition(" ")[2] != "row":
            return
        number = attributes.get("r", "")
        last = int(number) if number.isdigit() and len(number) < 10 else last + 1
        if last > limits.max_rows:
            raise _Stop(f"refused: {entry.filename} has more than {limits.max_rows} rows")

    def no_doctype(*_: object) -> None:
        # Spreadsheet XML never has a DTD; one here could only be meant to expand entities.
        raise _Stop(f"refused: {entry.filename} declares a DTD")

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = no_doctype
    try:
        with archive.open(entry) as stream:
            while chunk := stream.read(_CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except _Stop as stop:
        raise RegisterFileError(str(stop)) from None
    except expat.ExpatError as exc:
        raise RegisterFileError(f"not a readable XLSX workbook ({entry.filename}: {exc})") from exc


def _too_big(size: int, limits: ImportLimits) -> str:
    megabytes = size / 1024 / 1024
    return f"refused: the file holds {megabytes:.0f} MB of data, more than {limits.max_expanded_mb} MB"
