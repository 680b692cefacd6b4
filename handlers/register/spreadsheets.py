"""Cells that stay text in Excel: what leaves in a CSV or XLSX export never runs as a formula.

A name, relation or openid that starts like a formula (=, +, -, @, a tab or a carriage return, or the
full-width ＝ ＋ － ＠ that Chinese input methods type) would run when a worker opens the file: a
HYPERLINK that sends the sheet's phones away, or DDE. CSV cells get a leading apostrophe (Excel's own way
of saying "text"), which the register import takes off again; XLSX cells are written as strings with
Excel's quote prefix, so the value itself is unchanged.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
QUOTE = "'"


def looks_like_formula(value: object) -> bool:
    """True for text a spreadsheet would read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_cell(value: str) -> str:
    """The value as a CSV cell: formula-like text gets a leading apostrophe."""
    return QUOTE + value if looks_like_formula(value) else value


def csv_row(values: list[str]) -> list[str]:
    """Every cell of a CSV row made safe."""
    return [csv_cell(value) for value in values]


def unquote_csv_cell(text: str) -> str:
    """What csv_cell wrote, back as it was: "'=x" -> "=x"; any other text unchanged."""
    return text[1:] if text.startswith(QUOTE) and looks_like_formula(text[1:]) else text


def keep_as_text(cell: Any) -> Any:
    """An openpyxl cell holding formula-like text, made a plain string cell (shown with a quote prefix)."""
    if looks_like_formula(cell.value):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell
