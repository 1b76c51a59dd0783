"""Rows in and out of a spreadsheet file (CSV or XLSX), within limits a hostile file cannot pass.

What the rows mean is the importer's business (``cloud.members.importer``); this module knows
files: encodings, delimiters, zip packages, formula-looking text and how big is too big.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Final, Literal, Protocol

MAX_FILE_BYTES: Final = 200 * 2**20  # 300,000 members are ~20 MB of CSV
MAX_SHEET_ROWS: Final = 1_048_576  # Excel's last row: more came from no spreadsheet
# An XLSX is a zip: its parts are unpacked as they are read. A 1,000,000-row sheet is a few
# hundred MB of XML; a few MB packing into far more than that is a zip bomb.
MAX_UNPACKED_BYTES: Final = 2**30
MAX_PARTS: Final = 1_000
_DECODE_CHUNK: Final = 2**20
_SNIFF_CHARS: Final = 65_536
# A cell starting with one of these is a formula to Excel, LibreOffice and WPS
# (https://owasp.org/www-community/attacks/CSV_Injection); the quote makes it text.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_QUOTE: Final = "'"

Format = Literal["csv", "xlsx"]


class ImportFileError(ValueError):
    """The file as a whole cannot be read; the message says what to do about it."""


@dataclass(frozen=True, slots=True)
class BrokenRow:
    """A row the CSV reader could not split into cells (an unclosed quote, a huge cell)."""

    reason: str


Row = Sequence[object] | BrokenRow


class Sheet(Protocol):
    def rows(self, *, start: int = 1, width: int | None = None) -> Iterator[Row]:
        """Row ``start`` (1-based, as Excel numbers them) and every row after it, blank ones
        included, each cut to ``width`` cells when given."""
        ...


def file_format(filename: str) -> Format:
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".xlsx":
        return "xlsx"
    raise ImportFileError(
        f"{filename} is neither .csv nor .xlsx; save the roster from Excel or WPS as "
        "'CSV UTF-8' or as 'Excel Workbook (.xlsx)' and import that"
    )


def open_sheet(data: bytes, *, filename: str) -> Sheet:
    """The first sheet of the file; refuses a file that is too big or not what its name says."""
    fmt = file_format(filename)
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(
            f"{filename} is {len(data) / 2**20:,.0f} MB, more than the "
            f"{MAX_FILE_BYTES // 2**20} MB a roster import takes; split it into smaller files"
        )
    return _CsvSheet(data, filename) if fmt == "csv" else _XlsxSheet(data, filename)


def unquoted(text: str) -> str:
    """A cell's text as it was before :func:`quoted` (the inverse, so an export re-imports)."""
    if text[:1] == _QUOTE and text[1:2] in (*_FORMULA_START, _QUOTE):
        return text[1:]
    return text


def quoted(text: str) -> str:
    """Text that no spreadsheet runs as a formula: a leading ' when it would."""
    return _QUOTE + text if text.startswith((*_FORMULA_START, _QUOTE)) else text


def write_sheet(header: Sequence[str], rows: Iterable[Sequence[str]], *, fmt: Format) -> bytes:
    """A CSV (UTF-8 with a BOM, so Excel shows Chinese) or an XLSX of these text cells."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows([quoted(cell) for cell in row] for row in rows)
        return out.getvalue().encode("utf-8-sig")
    from openpyxl import Workbook  # noqa: PLC0415 - only an XLSX needs it

    book = Workbook(write_only=True)
    sheet = book.create_sheet("members")
    sheet.append(list(header))
    for row in rows:
        # Empty cells stay empty (None), not "" strings Excel would count as filled.
        sheet.append([quoted(cell) if cell else None for cell in row])
    out_bytes = io.BytesIO()
    book.save(out_bytes)
    return out_bytes.getvalue()


class _CsvSheet:
    def __init__(self, data: bytes, filename: str) -> None:
        self._data = data
        self._encoding = _encoding(data, filename)
        self._delimiter = _delimiter(self._text())

    def _text(self) -> io.TextIOWrapper:
        return io.TextIOWrapper(io.BytesIO(self._data), encoding=self._encoding, newline="")

    def rows(self, *, start: int = 1, width: int | None = None) -> Iterator[Row]:
        reader = csv.reader(self._text(), delimiter=self._delimiter)
        number = 0
        while True:
            try:
                row: Row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # the reader goes on at the next line
                row = BrokenRow(str(exc))
            number += 1
            if number > MAX_SHEET_ROWS:
                raise _too_many_rows()
            if number >= start:
                yield row if width is None or isinstance(row, BrokenRow) else row[:width]


def _encoding(data: bytes, filename: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            f"{filename} is UTF-16 text (Excel's 'Unicode Text'); save it as 'CSV UTF-8'"
        )
    if b"\0" in data:
        raise ImportFileError(
            f"{filename} holds NUL bytes, so it is not a CSV text file; open it in Excel or "
            "WPS and save it as 'CSV UTF-8'"
        )
    # UTF-8 first: GB18030 (what Excel writes for CSV on a Chinese Windows) decodes much
    # UTF-8 text too, into the wrong characters.
    for encoding in ("utf-8-sig", "gb18030"):
        if _decodes(data, encoding):
            return encoding
    raise ImportFileError(
        f"{filename} is not text in UTF-8 or GB18030; open it in Excel or WPS and save it as "
        "'CSV UTF-8'"
    )


def _decodes(data: bytes, encoding: str) -> bool:
    """Whether all of ``data`` decodes, checked a piece at a time (the text is not kept)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(data)
    try:
        for start in range(0, len(view), _DECODE_CHUNK):
            decoder.decode(view[start : start + _DECODE_CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _delimiter(text: io.TextIOWrapper) -> str:
    """Comma, unless the first line has more semicolons (Excel in Europe) or tabs."""
    first = text.readline(_SNIFF_CHARS)
    return max((",", ";", "\t"), key=first.count)


class _XlsxSheet:
    def __init__(self, data: bytes, filename: str) -> None:
        _check_package(data, filename)
        from openpyxl import load_workbook  # noqa: PLC0415 - only an XLSX needs it

        self._filename = filename
        try:
            # read_only streams the sheet's XML; data_only gives the value a formula last
            # showed in Excel, never the formula, and nothing here ever evaluates one.
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
            sheet = book.worksheets[0]
        # openpyxl raises what its parts raise (KeyError, TypeError, ParseError…) on a damaged
        # package: every one of them means the same to the person.
        except Exception as exc:
            raise ImportFileError(
                f"{filename} is not a workbook Excel could open ({type(exc).__name__}); open it "
                "in Excel or WPS and save it again as 'Excel Workbook (.xlsx)', or as CSV"
            ) from exc
        self._sheet = sheet
        # The size the file claims can be anything (A1:XFD1048576); rows are read as they are.
        self._sheet.reset_dimensions()

    def rows(self, *, start: int = 1, width: int | None = None) -> Iterator[Row]:
        cells = self._sheet.iter_rows(min_row=start, max_col=width, values_only=True)
        number = start - 1
        while True:
            try:
                row = next(cells)
            except StopIteration:
                return
            except Exception as exc:  # openpyxl and its XML parser, on a damaged sheet
                raise ImportFileError(
                    f"{self._filename} is damaged after row {number} ({exc}); open it in Excel "
                    "or WPS and save it again"
                ) from exc
            number += 1
            if number > MAX_SHEET_ROWS:
                raise _too_many_rows()
            yield row


def _check_package(data: bytes, filename: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            parts = package.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise ImportFileError(
            f"{filename} is not an .xlsx workbook (an old .xls, a password-protected workbook "
            "or another file renamed?); save it from Excel or WPS as 'Excel Workbook (.xlsx)' "
            "without a password, or as CSV"
        ) from exc
    unpacked = sum(part.file_size for part in parts)
    if unpacked > MAX_UNPACKED_BYTES:
        size = f"unpacks to {unpacked / 2**20:,.0f} MB"
    elif len(parts) > MAX_PARTS:
        size = f"holds {len(parts):,} parts"
    else:
        return
    raise ImportFileError(
        f"{filename} {size}, far more than a roster; it is not a workbook to import (save the "
        "roster again as CSV)"
    )


def _too_many_rows() -> ImportFileError:
    return ImportFileError(
        f"the file has more than {MAX_SHEET_ROWS:,} rows, Excel's last row; delete the empty "
        "rows at its end or split it"
    )
