"""The roster from a union's spreadsheet (CSV or XLSX) and back: import, dry run and export.

An import is all or nothing: every row that cannot be used is reported with its row number
as Excel shows it, and when any is refused nothing is written. The good rows go through
:func:`cloud.members.roster.upsert` in one transaction, so a repeat changes nothing and the
doors hear only what changed. A column the file lacks leaves what is stored as it is.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final, Literal
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from cloud.access.models import Member, Stream
from cloud.access.store import stream_version
from cloud.core.db import table_of
from cloud.core.time import as_utc
from cloud.members.cells import CellError, CellReader, refusal_of, shown
from cloud.members.roster import RosterEntry, Standing, known_groups, plan, upsert
from cloud.members.sheets import BrokenRow, ImportFileError, Row, open_sheet, write_sheet

__all__ = [
    "COLUMNS",
    "ImportFileError",
    "ImportReport",
    "Refusal",
    "export_roster",
    "import_roster",
    "read_roster",
]

COLUMNS: Final = ("member_id", "display_name", "groups", "valid_until", "standing", "phone_tail")
MAX_ROWS: Final = 1_000_000  # members in one file; the roster is sized for 300,000
_HEADER_SEARCH: Final = 10  # rows a title may take above the header ("XX工会会员名册")
_MAX_CELL: Final = 1_000  # characters; no real cell is near (a name is 40, groups under 30)
_LOOKUP_CHUNK: Final = 10_000  # ids per IN (...)
_CHINESE: Final = {
    "会员号": "member_id",
    "姓名": "display_name",
    "群体": "groups",
    "有效期至": "valid_until",
    "状态": "standing",
    "手机尾号": "phone_tail",
}
_HEADERS: Final = {name.replace("_", ""): name for name in COLUMNS} | _CHINESE
_HEADER_NOISE = re.compile(r"[\s_\-]+")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A row that cannot be imported, and why, said so a person can fix the cell."""

    row: int  # as Excel numbers it: the header is row 1
    member_id: str | None
    reason: str  # bad_id, unknown_group, duplicate_in_file, bad_date, bad_standing,
    # bad_phone_tail, bad_name or bad_row
    message: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int  # data rows read; blank rows are skipped and not counted
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    refused: list[Refusal]
    applied: bool  # False on a dry run, or when any row was refused
    version: int  # the member stream's version after applying; 0 when not applied


@dataclass(slots=True)
class _Read:
    entries: list[RosterEntry] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    rows: int = 0
    columns: frozenset[str] = frozenset()


def read_roster(
    data: bytes, *, filename: str, zone: ZoneInfo
) -> tuple[list[RosterEntry], list[Refusal]]:
    """The members a file describes, and the rows refused; raises ImportFileError.

    Columns the file lacks take RosterEntry's defaults here (:func:`import_roster` keeps
    what is stored instead). Group names are checked for their form only: which groups
    exist is the database's to say.
    """
    read = _read(data, filename=filename, cells=CellReader(zone=zone, groups=None))
    return read.entries, read.refused


def import_roster(
    session: Session,
    data: bytes,
    *,
    filename: str,
    by: str,
    dry_run: bool,
    zone: ZoneInfo = ZoneInfo("Asia/Shanghai"),  # noqa: B008 - an immutable, cached zone
) -> ImportReport:
    """Read the file and, unless it is a dry run or a row was refused, store every member.

    Raises ImportFileError for a file that cannot be read at all.
    """
    with _no_cycle_collection():
        groups = known_groups(session=session)
        cells = CellReader(zone=zone, groups={name: group.zh for name, group in groups.items()})
        read = _read(data, filename=filename, cells=cells)
        entries = _keeping_stored(session, read.entries, read.columns)
        if read.refused or dry_run:
            would = plan(session=session, entries=entries)
            return ImportReport(
                read.rows, would.created, would.updated, would.unchanged, read.refused, False, 0
            )
        note = f"import {filename}"[:200]
        done = upsert(session=session, entries=entries, by=by, note=note)
    version = done.version or stream_version(session=session, stream=Stream.MEMBERS)
    return ImportReport(read.rows, done.created, done.updated, done.unchanged, [], True, version)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused while an import builds its rows.

    A 300,000-row import holds a few million live objects (entries, stored rows, statement
    parameters), none in a cycle; the collector walks them all again and again as they
    grow: on SQLite it took 24 s of a 300,000-member import's CPU instead of 17 s, and 18 s
    instead of 11 s for a repeat. Reference counting still frees everything as usual.
    """
    if not gc.isenabled():  # paused already (another import): its owner resumes it
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def export_roster(session: Session, *, fmt: Literal["csv", "xlsx"]) -> bytes:
    """Every member in member-id order, in the columns an import reads back unchanged."""
    return write_sheet(COLUMNS, _export_rows(session), fmt=fmt)


def _export_rows(session: Session) -> Iterator[list[str]]:
    # The columns, not Member objects: a 300,000-member export spent most of its time
    # building ORM objects it only read once.
    table = table_of(Member)
    query = sa_select(*(table.c[name] for name in COLUMNS)).order_by(table.c.member_id)
    rows = session.connection().execute(query.execution_options(yield_per=5_000))
    for member_id, name, groups, until, standing, tail in rows:
        yield [
            member_id,
            name or "",
            " ".join(groups),
            "" if until is None else as_utc(until).isoformat(),
            standing,
            tail or "",
        ]


def _read(data: bytes, *, filename: str, cells: CellReader) -> _Read:
    sheet = open_sheet(data, filename=filename)
    header_row, at = _header(sheet.rows(), filename)
    read = _Read(columns=frozenset(at))
    first_seen: dict[str, int] = {}
    width = max(at.values()) + 1
    for number, row in enumerate(sheet.rows(start=header_row + 1, width=width), header_row + 1):
        if isinstance(row, BrokenRow):
            read.rows += 1
            read.refused.append(_broken(number, row))
            continue
        given = {name: row[index] if index < len(row) else None for name, index in at.items()}
        if all(_blank(value) for value in given.values()):
            continue
        read.rows += 1
        if read.rows > MAX_ROWS:
            raise ImportFileError(
                f"{filename} has more than {MAX_ROWS:,} members; split it into smaller files"
            )
        outcome = _row(number, given, cells, first_seen)
        if isinstance(outcome, Refusal):
            read.refused.append(outcome)
        else:
            read.entries.append(outcome)
    return read


def _header(rows: Iterator[Row], filename: str) -> tuple[int, dict[str, int]]:
    """The header's row number and where each known column is."""
    for number, row in enumerate(rows, 1):
        if number > _HEADER_SEARCH:
            break
        if isinstance(row, BrokenRow):
            continue
        at: dict[str, int] = {}
        for index, cell in enumerate(row):
            name = _HEADERS.get(_HEADER_NOISE.sub("", str(cell)).lower()) if cell else None
            if name is not None:
                at.setdefault(name, index)
        if not at:
            continue
        if "member_id" not in at:
            raise ImportFileError(
                f"the header (row {number} of {filename}) has no member_id (会员号) column; "
                "add one with each member's id"
            )
        return number, at
    raise ImportFileError(
        f"{filename} has no header row naming its columns; make the first row "
        f"{', '.join(COLUMNS)} (or 会员号, 姓名, 群体, 有效期至, 状态, 手机尾号)"
    )


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _broken(number: int, row: BrokenRow) -> Refusal:
    return Refusal(
        number,
        None,
        "bad_row",
        f"this row cannot be read ({row.reason}); check its quotes, and that no cell is "
        "longer than a few hundred characters",
    )


def _row(
    number: int, given: Mapping[str, object], cells: CellReader, first_seen: dict[str, int]
) -> RosterEntry | Refusal:
    """One data row as a member, or the refusal of its first bad cell (in column order)."""
    values: dict[str, object] = {}
    problems: dict[str, CellError] = {}
    for name, value in given.items():
        try:
            if isinstance(value, str) and len(value) > _MAX_CELL:
                raise _huge(name, value)
            values[name] = cells.parse(name, value)
        except CellError as exc:
            problems[name] = exc
    member_id = values.get("member_id")
    if isinstance(member_id, str):
        first = first_seen.setdefault(member_id, number)
        if first != number:
            said = shown(member_id, limit=40)
            return Refusal(
                number,
                said,
                "duplicate_in_file",
                f"member {said!r} is on row {first} already; keep one row per member",
            )
    try:
        entry = RosterEntry.model_validate(values)
    except ValidationError as exc:  # the cells that parsed may break the entry's rules
        problems = _problems(exc, given) | problems
    else:
        if not problems:
            return entry
    problem = problems[min(problems, key=_column_order)]
    return Refusal(number, _shown_id(given["member_id"]), problem.reason, problem.message)


def _huge(name: str, value: str) -> CellError:
    return CellError(
        "bad_row",
        f"the {name} cell holds {len(value):,} characters, far more than a {name} needs; "
        "correct the cell",
    )


def _shown_id(value: object) -> str | None:
    """The member id as a refusal names it: as typed, cut short when absurd."""
    if _blank(value):
        return None
    return shown(str(value).strip(), limit=40)


def _problems(exc: ValidationError, given: Mapping[str, object]) -> dict[str, CellError]:
    """RosterEntry's refusals (the id's form, the name's length…) in a person's words."""
    found: dict[str, CellError] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""  # "": the whole entry's rule
        said = str(error["msg"]).removeprefix("Value error, ")
        rule = said if error["type"] == "value_error" else None
        found.setdefault(name, refusal_of(name, given.get(name), rule=rule))
    return found


def _column_order(name: str) -> int:
    return COLUMNS.index(name) if name in COLUMNS else len(COLUMNS)


def _keeping_stored(
    session: Session, entries: Sequence[RosterEntry], columns: frozenset[str]
) -> list[RosterEntry]:
    """Entries whose columns the file lacks hold what is stored, not the defaults: a file
    of ids and names must not reinstate the suspended or clear every membership's end."""
    missing = set(COLUMNS) - columns
    if not missing:
        return list(entries)
    stored: dict[str, RosterEntry] = {}
    ids = [entry.member_id for entry in entries]
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        rows = session.exec(select(Member).where(col(Member.member_id).in_(chunk)))
        stored.update((row.member_id, _as_stored(row)) for row in rows)
    given = columns - {"member_id"}
    return [
        entry
        if entry.member_id not in stored
        else stored[entry.member_id].model_copy(
            update={name: getattr(entry, name) for name in given}
        )
        for entry in entries
    ]


def _as_stored(row: Member) -> RosterEntry:
    """What is stored, unchecked: a member stored before a rule tightened (an end year a
    door no longer accepts) keeps it, instead of failing an import that does not touch it."""
    until = row.valid_until
    return RosterEntry.model_construct(
        member_id=row.member_id,
        display_name=row.display_name,
        groups=tuple(row.groups),
        valid_until=None if until is None else as_utc(until),
        standing=Standing(row.standing),
        phone_tail=row.phone_tail,
    )
