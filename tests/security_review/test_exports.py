"""Security review: spreadsheet cells, file names and bounds of the exports."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from openpyxl import load_workbook

from cloud.reports.exports import Sheet, write
from cloud.reports.files import content_disposition
from cloud.reports.tables import Format

COLUMNS: list[tuple[str, Format]] = [
    ("time", "hour"),
    ("device", "text"),
    ("sensor", "text"),
    ("min_c", "dec1"),
]
# Exports hold local hours without a zone, as the spreadsheet shows them.
HOUR = datetime(2025, 1, 1, 3)  # noqa: DTZ001
HOSTILE = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_starts_a_formula_is_quoted_in_csv_and_xlsx(text: str) -> None:
    sheet = Sheet("temperature", COLUMNS, [[HOUR, "hub", text, 1.0]])

    csv_text = write(sheet, "csv", "en").decode("utf-8-sig")
    book = load_workbook(io.BytesIO(write(sheet, "xlsx", "en")))
    sheet_read = book.active
    assert sheet_read is not None
    cell = next(sheet_read.iter_rows(min_row=2, values_only=True))[2]

    assert next(csv.reader(io.StringIO(csv_text.split("\r\n", 1)[1])))[2] == f"'{text}"
    assert isinstance(cell, str)
    assert cell.startswith("'")


def test_a_negative_number_stays_a_number_in_csv() -> None:
    sheet = Sheet("temperature", COLUMNS, [[HOUR, "hub", "28-out", -3.5]])

    csv_text = write(sheet, "csv", "en").decode("utf-8-sig")

    assert csv_text.splitlines()[1].endswith(",-3.5"), csv_text


@pytest.mark.parametrize(
    "name", ['a"; filename=evil.exe', "x\r\nSet-Cookie: a=b.xlsx", "徐汇\\..\\..\\x.pdf"]
)
def test_content_disposition_keeps_a_hostile_name_inside_its_quotes(name: str) -> None:
    header = content_disposition(name)

    assert "\r" not in header
    assert "\n" not in header
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert all(c.isalnum() or c in "._-" for c in fallback)
    assert header.count('"') == 2
