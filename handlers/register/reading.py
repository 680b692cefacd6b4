"""Reading a register file: the rows of an XLSX workbook's first sheet, or of a CSV file in any encoding."""

from __future__ import annotations

import codecs
import csv
import io
import warnings
import zipfile
from contextlib import closing
from pathlib import Path
from xml.etree.ElementTree import ParseError

from handlers.register.cells import Cell
from handlers.register.limits import (
    DEFAULT_LIMITS,
    ImportLimits,
    RegisterFileError,
    check_text_file,
    check_workbook,
    within_limits,
)


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
