"""`yizhan cloud members import | export` as a union clerk uses them: a summary, every refused
row, an exit code a script can test, and one line for a file that is not a roster."""

from __future__ import annotations

import getpass
import io
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import Session, select
from typer.testing import CliRunner

from cloud.access.models import Member
from cloud.core.db import make_engine
from cloud.members.models import MemberAudit
from ops.broker.process import free_port
from tests.test_cli import yizhan as yizhan_process
from yizhan import cli_members
from yizhan.cli import app

ROSTER = "\r\n".join(
    [
        "会员号,姓名,群体,有效期至,状态,手机尾号",
        "M0101,陈师傅,外卖骑手,2027-12-31,正常,3131",
        "M0102,刘阿姨,环卫工人 快递员,,,5678",
        "M0103,张伟,rider,,暂停,",
    ]
).encode()
# Only SQLite: what the commands do with the database is the importer's, tested on both.
sqlite_only = pytest.mark.parametrize("migrated_db_url", ["sqlite"], indirect=True)


def yizhan(*args: str) -> tuple[int, str]:
    """Run `yizhan …` in this process: (exit code, all it printed). A traceback fails."""
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def members(url: str) -> list[Member]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(Member).order_by(Member.member_id)))
    finally:
        engine.dispose()


@sqlite_only
def test_import_export_and_a_dry_run_of_the_export_say_what_they_did(
    migrated_db_url: str, tmp_path: Path
) -> None:
    db = ("--database-url", migrated_db_url)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(ROSTER)
    code, said = yizhan("cloud", "members", "import", str(roster), *db)
    assert code == 0, said
    assert f"imported {roster}: 3 rows: 3 created, 0 updated, 0 unchanged, 0 refused" in said
    assert [m.member_id for m in members(migrated_db_url)] == ["M0101", "M0102", "M0103"]

    exported = tmp_path / "members.xlsx"
    code, said = yizhan("cloud", "members", "export", str(exported), *db)
    assert (code, said.strip()) == (0, f"wrote 3 members to {exported}")
    code, said = yizhan("cloud", "members", "import", str(exported), "--dry-run", *db)
    assert code == 0, said
    assert "nothing written (dry run)" in said
    assert "3 rows: 0 created, 0 updated, 3 unchanged, 0 refused" in said

    engine = make_engine(migrated_db_url)
    try:
        with Session(engine) as session:
            audit = session.exec(select(MemberAudit)).first()
    finally:
        engine.dispose()
    assert audit is not None
    assert (audit.by, audit.note) == (f"cli:{getpass.getuser()}", "import roster.csv")


@sqlite_only
def test_refused_rows_are_each_listed_and_nothing_is_imported(
    migrated_db_url: str, tmp_path: Path
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_bytes(ROSTER + b"\r\nM0104,,,2027-13-45,,\r\nbad id,,,,,")
    code, said = yizhan(
        "cloud", "members", "import", str(roster), "--by", "ann", "--database-url", migrated_db_url
    )
    assert code == 1
    lines = said.splitlines()
    assert lines[0] == f"{roster}: 5 rows: 3 created, 0 updated, 0 unchanged, 2 refused"
    assert lines[1].startswith("row 5 (M0104) bad_date: valid_until '2027-13-45' is not a date")
    assert lines[2].startswith("row 6 (bad id) bad_id: member id 'bad id' is not")
    assert "nothing was imported" in lines[3]
    assert members(migrated_db_url) == []


@sqlite_only
def test_a_terminal_gets_a_table_of_the_first_refused_rows(
    migrated_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=160, color_system=None)
    monkeypatch.setattr(cli_members, "console", terminal)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(b"member_id\r\n" + b"bad id\r\n" * 60)
    code, _ = yizhan("cloud", "members", "import", str(roster), "--database-url", migrated_db_url)
    assert code == 1
    shown = screen.getvalue()
    assert "refused rows" in shown
    assert "│ 51  │ bad id" in shown  # rows 2 to 51
    assert "│ 52 " not in shown
    assert "and 10 more; send the output to a file to see them all" in shown


def test_a_file_that_is_no_roster_or_a_wrong_name_is_one_line_and_exit_2(tmp_path: Path) -> None:
    binary = tmp_path / "photo.csv"
    binary.write_bytes(bytes(range(256)))
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    for args, said in [
        (("import", str(binary)), "photo.csv holds NUL bytes"),
        (("import", str(tmp_path / "missing.csv")), "cannot read"),
        (("import", str(binary), "--timezone", "Mars/Olympus"), "time zone 'Mars/Olympus'"),
        (("export", str(tmp_path / "members.txt")), "must end in .csv or .xlsx"),
    ]:
        code, out = yizhan("cloud", "members", *args, "--database-url", url)
        assert code == 2, out
        assert out.startswith("error: ")
        assert said in out
        assert len(out.strip().splitlines()) <= 2, out


def test_a_bad_file_from_a_real_process_is_one_line_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / "roster.xlsx").write_text("member_id\nm-1\n")
    result = yizhan_process(
        "cloud", "members", "import", "roster.xlsx", "--data-dir", "cloud", cwd=tmp_path
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) <= 2, lines
    assert lines[0].startswith("error: roster.xlsx is not an .xlsx workbook")


def test_a_database_that_does_not_answer_is_one_line_and_exit_1(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_bytes(ROSTER)
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/x"
    code, out = yizhan("cloud", "members", "import", str(roster), "--database-url", url)
    assert code == 1
    assert out.startswith("error: cannot use the database at postgresql://nobody@127.0.0.1")
    assert len(out.strip().splitlines()) <= 2, out
