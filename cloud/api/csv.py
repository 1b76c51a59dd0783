"""``?format=csv`` for list endpoints: the same rows as text/csv with a header row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import Response
from pydantic import BaseModel

ListFormat = Literal["json", "csv"]
FormatQuery = Annotated[
    ListFormat,
    Query(alias="format", description="csv: this page's rows as text/csv, with a header row."),
]
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


def csv_response(rows: Iterable[BaseModel], *, columns: Sequence[str], filename: str) -> Response:
    """``rows`` as CSV with ``columns`` as the header, downloadable as ``filename``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(columns)
    for row in rows:
        values = row.model_dump(mode="json")
        writer.writerow([csv_cell(values.get(name)) for name in columns])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
