"""``?format=csv`` for list endpoints: the same rows as text/csv with a header row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import Response
from pydantic import BaseModel

from cloud.core.cells import csv_cell

ListFormat = Literal["json", "csv"]
FormatQuery = Annotated[
    ListFormat,
    Query(alias="format", description="csv: this page's rows as text/csv, with a header row."),
]


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
