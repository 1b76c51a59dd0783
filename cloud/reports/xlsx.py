"""A report as an Excel workbook: a summary sheet, a per-day sheet, temperature and alerts.

Numbers are stored as numbers with a number format and days as dates, so a manager can
add up a column or chart it; headers are in the reader's language.
"""

from __future__ import annotations

import io
from typing import Final

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from cloud.reports.figures import Report
from cloud.reports.sheets import safe_text
from cloud.reports.tables import Format, Table, alert_kinds, days, probes, summary
from cloud.reports.words import Lang, title, word

NUMBER_FORMATS: Final[dict[Format, str]] = {
    "int": "0",
    "dec1": "0.0",
    "dec3": "0.000",
    "date": "yyyy-mm-dd",
    "hour": "yyyy-mm-dd hh:mm",
}
# Wide enough for a Chinese header or a venue name without the reader dragging columns.
_WIDTH: Final[dict[Format, int]] = {"text": 24, "date": 12, "hour": 17}


def _write(sheet: Worksheet, table: Table, lang: Lang, *, first_row: int = 1) -> None:
    for col, header in enumerate(table.headers(lang), start=1):
        head = sheet.cell(row=first_row, column=col, value=header)
        head.font = Font(bold=True)
        letter = head.column_letter
        sheet.column_dimensions[letter].width = _WIDTH.get(table.columns[col - 1].fmt, 14)
    for r, row in enumerate(table.rows, start=first_row + 1):
        for col, (column, value) in enumerate(zip(table.columns, row, strict=True), start=1):
            cell = sheet.cell(row=r, column=col, value=safe_text(value))
            if column.fmt in NUMBER_FORMATS:
                cell.number_format = NUMBER_FORMATS[column.fmt]
    sheet.freeze_panes = f"A{first_row + 1}"


def report_xlsx(report: Report, lang: Lang) -> bytes:
    book = Workbook()
    first = book.active
    assert first is not None  # a new workbook always has its first sheet
    first.title = word(lang, "reports.sheet.summary")
    first.cell(
        row=1,
        column=1,
        value=safe_text(
            title(lang, report.display_name(lang), report.period.kind, report.period.label(lang))
        ),
    ).font = Font(bold=True, size=14)
    _write(first, summary(report, lang), lang, first_row=3)
    for table in (days(report, lang), probes(report, lang), alert_kinds(report, lang)):
        _write(book.create_sheet(word(lang, "reports.sheet." + table.name)), table, lang)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
