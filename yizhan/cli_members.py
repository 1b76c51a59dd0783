"""`yizhan cloud members import | export`: the union's roster from and to a CSV or XLSX file.

Exit codes: 0 the file was applied (or a dry run found nothing wrong), 1 rows were refused
and nothing was applied, 2 the file (or the command) could not be used at all.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.markup import escape
from rich.table import Table

from yizhan.cli_cloud import DatabaseUrl, cloud_settings
from yizhan.cli_render import DEFAULT_ZONE, console, print_error

if TYPE_CHECKING:
    from sqlmodel import Session

    from cloud.members.importer import ImportReport

members_app = typer.Typer(
    help="The union's member roster: import it from, or export it to, a CSV or XLSX file.",
    no_args_is_help=True,
)
_TABLE_ROWS: Final = 50  # a terminal shows this many refused rows; a pipe gets all of them

CloudDataDir = Annotated[
    Path | None,
    typer.Option(
        help="Folder for the database and files (default: YZ_CLOUD_DATA_DIR, else .yizhan/cloud)."
    ),
]
TimeZone = Annotated[
    str, typer.Option("--timezone", help="The zone of the file's dates (a date runs to its end).")
]


def _fail(message: str) -> typer.Exit:
    print_error(console, message)
    return typer.Exit(code=2)


@contextmanager
def _roster_session(data_dir: Path | None, database_url: str | None) -> Iterator[Session]:
    """A session on the migrated cloud database, as `cloud user add` opens it."""
    from sqlmodel import Session  # noqa: PLC0415 - the cloud's libraries, cloud commands only

    from cloud.core.db import reporting_unreachable  # noqa: PLC0415
    from cloud.service import open_database  # noqa: PLC0415

    settings = cloud_settings(role="database", data_dir=data_dir, database_url=database_url)
    with reporting_unreachable(settings.resolved_database_url()):
        engine = open_database(settings)
        try:
            with Session(engine) as session:
                yield session
        finally:
            engine.dispose()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(
            f"time zone {name!r} is unknown; give an IANA name like Asia/Shanghai"
        ) from None


def _read(path: Path) -> bytes:
    from cloud.members.sheets import MAX_FILE_BYTES  # noqa: PLC0415

    try:
        with path.open("rb") as file:
            return file.read(MAX_FILE_BYTES + 1)  # the importer refuses more; never read 10 GB
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc}") from None


def _default_by() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # a container's user without a name
        return "cli"


@members_app.command("import")
def members_import(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="The roster: a .csv (UTF-8 or GB18030) or .xlsx.")
    ],
    *,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would change; write nothing.")
    ] = False,
    by: Annotated[
        str | None,
        typer.Option(help="Who the roster's history names (default: cli:<your user name>)."),
    ] = None,
    timezone: TimeZone = DEFAULT_ZONE,
    data_dir: CloudDataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Load members from a file: all of it, or nothing when any row is refused."""
    import warnings  # noqa: PLC0415

    from cloud.members.importer import ImportFileError, import_roster  # noqa: PLC0415

    # openpyxl warns about what it skips in a workbook (styles, data validation); the
    # rows are what count, and a warning's two lines of source would read like a failure.
    warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
    zone = _zone(timezone)
    data = _read(file)
    with _roster_session(data_dir, database_url) as session:
        try:
            report = import_roster(
                session,
                data,
                filename=file.name,
                by=by or _default_by(),
                dry_run=dry_run,
                zone=zone,
            )
        except ImportFileError as exc:
            raise _fail(str(exc)) from None
    _print_report(report, file=file, dry_run=dry_run)
    if report.refused:
        raise typer.Exit(code=1)


def _print_report(report: ImportReport, *, file: Path, dry_run: bool) -> None:
    row_s = "row" if report.rows == 1 else "rows"
    counts = (
        f"{report.rows:,} {row_s}: {len(report.created):,} created, {len(report.updated):,} "
        f"updated, {len(report.unchanged):,} unchanged, {len(report.refused):,} refused"
    )
    if report.refused:
        console.print(f"{escape(str(file))}: {counts}", highlight=False)
        _print_refused(report)
        console.print(
            "[red]nothing was imported[/red]: correct the rows above and import the file again"
        )
    elif dry_run:
        console.print(
            f"[green]ok[/green], nothing written (dry run): {escape(str(file))}: {counts}"
        )
    else:
        console.print(
            f"[green]imported[/green] {escape(str(file))}: {counts}; the doors hear it at their "
            f"next sync (member version {report.version})"
        )


def _print_refused(report: ImportReport) -> None:
    refused = report.refused
    if not console.is_terminal:  # a pipe or a file: every row, one line each, for grep
        for r in refused:
            line = f"row {r.row} ({r.member_id or 'no member id'}) {r.reason}: {r.message}"
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title="refused rows", title_justify="left")
    for column in ("row", "member id", "reason", "what to do"):
        table.add_column(column, overflow="fold")
    for r in refused[:_TABLE_ROWS]:
        table.add_row(str(r.row), escape(r.member_id or "—"), r.reason, escape(r.message))
    console.print(table)
    if len(refused) > _TABLE_ROWS:
        console.print(
            f"and {len(refused) - _TABLE_ROWS:,} more; send the output to a file to see them all"
        )


@members_app.command("export")
def members_export(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="Where to write: a .csv or .xlsx file.")
    ],
    *,
    data_dir: CloudDataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write every member to a file the import reads back unchanged."""
    from cloud.members.importer import export_roster  # noqa: PLC0415
    from cloud.members.roster import find  # noqa: PLC0415
    from cloud.members.sheets import ImportFileError, file_format  # noqa: PLC0415

    try:
        fmt = file_format(file.name)
    except ImportFileError:
        raise _fail(f"{file} must end in .csv or .xlsx: that says which to write") from None
    with _roster_session(data_dir, database_url) as session:
        data = export_roster(session, fmt=fmt)
        members = find(session=session, limit=1).total
    try:
        file.write_bytes(data)
    except OSError as exc:
        raise _fail(f"cannot write {file}: {exc.strerror or exc}") from None
    member_s = "member" if members == 1 else "members"
    console.print(f"[green]wrote[/green] {members:,} {member_s} to {escape(str(file))}")
