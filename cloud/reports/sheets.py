"""Cells a spreadsheet will not run: text that would start a formula is quoted."""

from __future__ import annotations

from cloud.core.cells import csv_cell
from cloud.reports.tables import Cell


def safe_text(value: Cell) -> Cell:
    """Numbers and dates as they are; text that starts like a formula gets a leading '
    (venue names and probe labels are typed by people: OWASP "CSV injection")."""
    if isinstance(value, str):
        return csv_cell(value)
    return value
