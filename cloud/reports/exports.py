"""Exports over a date range: door decisions, alerts, traffic and temperatures, as CSV or XLSX.

Each builds its rows from what the API already answers (access events with their pseudonyms,
the rollup views with their fresh overlay), so an export holds what the page shows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal

from cloud.core.cells import csv_cell
from cloud.reports.tables import Cell, Format
from cloud.reports.words import Lang, word
from cloud.reports.xlsx import NUMBER_FORMATS

ExportFormat = Literal["csv", "xlsx"]
EXPORT_FORMATS: Final[tuple[ExportFormat, ...]] = ("csv", "xlsx")


@dataclass(frozen=True, slots=True)
class Sheet:
    name: str  # a reports.x.* word: the sheet's and the file's name
    columns: Sequence[tuple[str, Format]]  # reports.x.* word of the header, cell format
    rows: list[list[Cell]]


def _csv_value(value: Cell) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return csv_cell(value)


def write(sheet: Sheet, fmt: ExportFormat, lang: Lang) -> bytes:
    headers = [word(lang, "reports.x." + key) for key, _ in sheet.columns]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(headers)
        writer.writerows([_csv_value(v) for v in row] for row in sheet.rows)
        return out.getvalue().encode("utf-8-sig")  # the BOM: Excel then reads Chinese
    from openpyxl import Workbook  # noqa: PLC0415 - only an XLSX needs it
    from openpyxl.cell import WriteOnlyCell  # noqa: PLC0415

    book = Workbook(write_only=True)
    ws = book.create_sheet(word(lang, "reports.x." + sheet.name)[:31])
    ws.append(headers)
    for row in sheet.rows:
        cells = []
        for (_, fmt_), value in zip(sheet.columns, row, strict=True):
            shown: Any = csv_cell(value) if isinstance(value, str) else value
            cell = WriteOnlyCell(ws, value=shown)
            if fmt_ in NUMBER_FORMATS:
                cell.number_format = NUMBER_FORMATS[fmt_]
            cells.append(cell)
        ws.append(cells)
    out_bytes = io.BytesIO()
    book.save(out_bytes)
    return out_bytes.getvalue()
