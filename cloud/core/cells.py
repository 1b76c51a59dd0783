"""A spreadsheet cell that cannot run as a formula, for every export (API, pages, reports)."""

from __future__ import annotations

from datetime import datetime

# Characters a spreadsheet reads as the start of a formula: a member-entered value starting
# with one must not run as a formula when a manager opens the export (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """One spreadsheet-safe cell: a value that would start a formula is quoted as text."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a number, -3.5 °C included, is data a formula cannot hide in
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text
