"""The roster file: CSV and XLSX in, all or nothing, the same columns out; hostile files refused."""

from __future__ import annotations

import csv
import gc
import io
import time
import tracemalloc
import zipfile
from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.access.models import Member
from cloud.access.store import upsert_member
from cloud.members import importer
from cloud.members.importer import (
    COLUMNS,
    ImportFileError,
    Refusal,
    export_roster,
    import_roster,
    read_roster,
)
from cloud.members.models import MemberAudit
from cloud.members.roster import RosterEntry, Standing, set_standing, upsert
from cloud.members.sheets import MAX_FILE_BYTES, MAX_SHEET_ROWS

ZONE = ZoneInfo("Asia/Shanghai")
HEADER = ",".join(COLUMNS)
# 2027-12-31 in Beijing ends at 2028-01-01 00:00 +08:00.
THROUGH_2027 = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)


def csv_file(*rows: str, encoding: str = "utf-8") -> bytes:
    return "\r\n".join(rows).encode(encoding)


def workbook(*rows: Sequence[object]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def repacked(data: bytes, part: str, change: dict[bytes, bytes]) -> bytes:
    """The workbook with text replaced in one of its parts (what openpyxl would not write)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == part:
                for old, new in change.items():
                    body = body.replace(old, new)
            package.writestr(info.filename, body)
    return out.getvalue()


def read(data: bytes, filename: str = "roster.csv") -> tuple[list[RosterEntry], list[Refusal]]:
    return read_roster(data, filename=filename, zone=ZONE)


def refusal(*rows: str) -> Refusal:
    """The one refusal of a file of these data rows under the English header."""
    _, refused = read(csv_file(HEADER, *rows))
    assert len(refused) == 1, refused
    return refused[0]


# --- reading ---------------------------------------------------------------------------


def test_excel_s_chinese_csv_with_a_title_row_reads_by_row_number_as_excel_shows_it() -> None:
    data = csv_file(
        "徐汇区总工会会员名册,,,,,,",
        "会员号,姓名,群体,有效期至,状态,手机尾号,备注",
        "QD001,王师傅,rider、courier,2027-12-31,正常,0123,老会员",
        ",,,,,,",
        'QD002,"李\n娜",rider,,暂停,,',  # a line break inside a cell: still one row
        "QD003,张伟,, 2027/1/5 ,注销,,",
    )
    entries, refused = read(data.decode().encode("gb18030"))
    assert entries == [
        RosterEntry(
            member_id="QD001",
            display_name="王师傅",
            groups=("rider", "courier"),
            valid_until=THROUGH_2027,
            phone_tail="0123",
        ),
        RosterEntry(
            member_id="QD003",
            display_name="张伟",
            valid_until=datetime(2027, 1, 5, 16, 0, tzinfo=UTC),
            standing=Standing.REVOKED,
        ),
    ]
    assert [(r.row, r.member_id, r.reason) for r in refused] == [(5, "QD002", "bad_name")]


def test_headers_in_any_case_and_spacing_utf8_with_a_bom_and_semicolons() -> None:
    data = "\ufeffMember ID; DISPLAY_NAME ;Phone-Tail\r\nm-1;王芳;9876\r\n".encode()
    entries, refused = read(data)
    assert (entries, refused) == (
        [RosterEntry(member_id="m-1", display_name="王芳", phone_tail="9876")],
        [],
    )


@pytest.mark.parametrize(
    ("row", "reason", "said"),
    [
        ("has space,,,,,", "bad_id", "'has space' is not 1 to 24"),
        (",王师傅,,,,", "bad_id", "the member id is empty"),
        ("m-1," + "长" * 41 + ",,,,", "bad_name", "is not 1 to 40 characters"),
        ("m-1,,rider x_y,,,", "unknown_group", "'rider x_y' are not group names"),
        ("m-1,,rider courier sanitation driver trucker,,,", "bad_row", "door code"),
        ("m-1,,,2027-13-45,,", "bad_date", "write 2027-12-31"),
        ("m-1,,,2027-12-31 18:00,,", "bad_date", "does not say its offset"),
        ("m-1,,,,deleted,", "bad_standing", "'deleted' is not active, suspended or revoked"),
        ("m-1,,,,,123", "bad_phone_tail", "Excel drops a leading 0"),
        ("m-1,,,,,12a4", "bad_phone_tail", "not the last 4 digits"),
    ],
)
def test_each_bad_cell_is_refused_with_its_reason_and_what_to_do(
    row: str, reason: str, said: str
) -> None:
    refused = refusal(row)
    assert (refused.row, refused.reason) == (2, reason)
    assert said in refused.message


def test_the_first_bad_cell_in_column_order_is_the_one_reported() -> None:
    assert refusal("bad id,,,2027-13-45,deleted,1").reason == "bad_id"
    assert refusal("m-1,,Rider x_y,2027-13-45,,").reason == "unknown_group"


def test_a_member_twice_refuses_the_later_rows_naming_the_first() -> None:
    entries, refused = read(csv_file(HEADER, "m-1,甲,,,,", "m-2,,,,,", "m-1,乙,,,,", "m-1,,,,,"))
    assert [e.member_id for e in entries] == ["m-1", "m-2"]
    assert [(r.row, r.reason) for r in refused] == [
        (4, "duplicate_in_file"),
        (5, "duplicate_in_file"),
    ]
    assert "on row 2 already" in refused[1].message


@pytest.mark.parametrize(
    ("cell", "zone", "until"),
    [
        ("2027-12-31", ZONE, THROUGH_2027),
        ("2027/12/31", ZONE, THROUGH_2027),
        ("2027年12月31日", ZONE, THROUGH_2027),
        ("２０２７－１２－３１", ZONE, THROUGH_2027),  # typed with a Chinese IME
        ("2027-12-31", ZoneInfo("UTC"), datetime(2028, 1, 1, tzinfo=UTC)),
        ("2027-12-31T18:00+08:00", ZONE, datetime(2027, 12, 31, 10, 0, tzinfo=UTC)),
        ("2027-12-31T16:00:00.000005+00:00", ZONE, datetime(2027, 12, 31, 16, 0, 0, 5, UTC)),
        ("2027-12-31T10:00Z", ZONE, datetime(2027, 12, 31, 10, 0, tzinfo=UTC)),
        ("", ZONE, None),
    ],
)
def test_a_date_runs_through_that_local_day_and_a_time_says_its_offset(
    cell: str, zone: ZoneInfo, until: datetime | None
) -> None:
    (entry,), _ = read_roster(
        csv_file("member_id,valid_until", f"m-1,{cell}"), filename="r.csv", zone=zone
    )
    assert entry.valid_until == until


def test_excel_cells_keep_their_type_and_lose_no_digit_silently() -> None:
    # An Excel date cell has no zone: it is the roster's local time.
    data = workbook(
        COLUMNS,
        ["m-1", "王芳", "rider", datetime(2027, 12, 31), None, "0123"],  # noqa: DTZ001
        ["m-2", None, None, datetime(2027, 12, 31, 18, 30), "Suspended", 1234],  # noqa: DTZ001
        [10023, 42, None, date(2027, 12, 31), None, None],
        ["m-4", None, None, None, None, 123],  # Excel made 0123 a number
        [123456789012345678, None, None, None, None, None],  # rounded past 15 digits
        ["m-6", None, None, 46752, None, None],  # a date serial without a date format
    )
    entries, refused = read(data, "roster.xlsx")
    assert [(e.member_id, e.valid_until, e.phone_tail) for e in entries] == [
        ("m-1", THROUGH_2027, "0123"),
        ("m-2", datetime(2027, 12, 31, 10, 30, tzinfo=UTC), "1234"),
        ("10023", THROUGH_2027, None),
    ]
    assert entries[1].standing is Standing.SUSPENDED
    assert entries[2].display_name == "42"
    assert [(r.row, r.reason) for r in refused] == [
        (5, "bad_phone_tail"),
        (6, "bad_id"),
        (7, "bad_date"),
    ]
    assert "format the column as text" in refused[1].message


def test_formula_looking_cells_are_text_and_a_formula_is_never_run() -> None:
    entries, _ = read(csv_file("member_id,display_name", 'm-1,"=HYPERLINK(""http://x"",""a"")"'))
    assert entries[0].display_name == '=HYPERLINK("http://x","a")'
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["member_id", "display_name"])
    text = WriteOnlyCell(sheet, value="=1+2")
    text.data_type = "s"  # typed as text in Excel
    sheet.append(["m-1", text])
    sheet.append(["m-2", "=1+2"])  # a real formula, never computed by anyone
    out = io.BytesIO()
    book.save(out)
    entries, refused = read(out.getvalue(), "roster.xlsx")
    assert [(e.member_id, e.display_name) for e in entries] == [("m-1", "=1+2"), ("m-2", None)]
    assert refused == []


# --- hostile files ---------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["roster.csv", "roster.xlsx"])
def test_a_megabyte_cell_is_a_refused_row_not_a_crash(filename: str) -> None:
    huge = "x" * 2**20
    rows = [COLUMNS[:2], ("m-1", huge), ("m-2", "王芳")]
    if filename.endswith(".csv"):
        data = csv_file(*(",".join(row) for row in rows))
    else:
        data = workbook(*rows)
    entries, refused = read(data, filename)
    assert [e.member_id for e in entries] == ["m-2"]
    assert [(r.row, r.reason) for r in refused] == [(2, "bad_row")]
    assert len(refused[0].message) < 300


def _claims_a_million_empty_rows() -> bytes:
    """A workbook whose sheet spans a million rows with nothing in them, as a sheet does
    after someone formats a cell a million rows down."""
    end = b"1000001"
    return repacked(
        workbook(["member_id", "display_name"]),
        "xl/worksheets/sheet1.xml",
        {b"</sheetData>": b'<row r="%s"><c r="A%s" s="0"/></row></sheetData>' % (end, end)},
    )


@pytest.mark.parametrize("filename", ["roster.csv", "roster.xlsx"])
def test_a_million_empty_rows_are_skipped_quickly(filename: str) -> None:
    if filename.endswith(".csv"):
        data = HEADER.encode() + b"\r\n,,,,," * 1_000_000
    else:
        data = _claims_a_million_empty_rows()
    started = time.perf_counter()
    entries, refused = read(data, filename)
    assert (entries, refused) == ([], [])
    assert time.perf_counter() - started < 10  # about 1 s alone; CI's two cores are shared


def test_empty_rows_are_not_kept_while_reading() -> None:
    data = HEADER.encode() + b"\r\n,,,,," * 100_000
    tracemalloc.start()
    try:
        read(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20  # 100,000 rows kept would be over 10 MB


def test_more_rows_than_a_sheet_holds_or_more_members_than_the_limit_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ImportFileError, match="more than 1,048,576 rows"):
        read(HEADER.encode() + b"\r\n" * (MAX_SHEET_ROWS + 1))
    monkeypatch.setattr(importer, "MAX_ROWS", 2)
    with pytest.raises(ImportFileError, match="more than 2 members; split it"):
        read(csv_file(HEADER, "m-1", "", "m-2", "m-3"))


def _zip_bomb() -> bytes:
    """A sheet of 1.1 GB of spaces, packed into 5 MB."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package,
        package.open("xl/worksheets/sheet1.xml", "w") as sheet,
    ):
        chunk = b" " * 2**20
        for _ in range(1_100):
            sheet.write(chunk)
    return out.getvalue()


def _billion_laughs() -> bytes:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
    )
    return repacked(
        workbook(["member_id"], ["m-1"]),
        "xl/worksheets/sheet1.xml",
        {b"<worksheet": f"<!DOCTYPE worksheet [{entities}]><worksheet".encode(), b"m-1": b"&j;"},
    )


@pytest.mark.parametrize(
    ("filename", "data", "said"),
    [
        ("roster.xls", b"whatever", "neither .csv nor .xlsx"),
        ("roster.csv", bytes(range(256)) * 4, "NUL bytes"),
        ("roster.csv", b"member_id\n\x80\xff\xfe\n", "not text in UTF-8 or GB18030"),
        ("roster.csv", "member_id\nm-1\n".encode("utf-16"), "UTF-16"),
        ("roster.csv", b"a,b\r\n1,2\r\n", "no header row"),
        ("roster.csv", "姓名,手机尾号\r\n王芳,1234\r\n".encode(), "has no member_id"),
        ("roster.xlsx", b"member_id\r\nm-1\r\n", "not an .xlsx workbook"),
        ("roster.xlsx", b"PK\x03\x04 truncated", "not an .xlsx workbook"),
    ],
    ids=["xls", "binary", "latin", "utf16", "no-header", "no-id", "text-xlsx", "broken-zip"],
)
def test_a_file_that_is_not_a_roster_is_refused_whole_with_what_to_do(
    filename: str, data: bytes, said: str
) -> None:
    with pytest.raises(ImportFileError, match=said):
        read(data, filename)


def test_a_zip_bomb_an_entity_bomb_or_a_huge_file_is_refused_before_it_is_read() -> None:
    with pytest.raises(ImportFileError, match="unpacks to 1,100 MB"):
        read(_zip_bomb(), "roster.xlsx")
    with pytest.raises(ImportFileError, match=r"not a workbook Excel could open \(ParseError\)"):
        read(_billion_laughs(), "roster.xlsx")
    with pytest.raises(ImportFileError, match="more than the 200 MB"):
        read(b"\n" * (MAX_FILE_BYTES + 1))


# --- importing and exporting -------------------------------------------------------------

ROSTER = csv_file(
    "会员号,姓名,群体,有效期至,状态,手机尾号",
    "M0101,陈师傅,外卖骑手,2027-12-31,正常,3131",
    "M0102,刘阿姨,环卫工人 快递员,,,5678",
    "M0103,张伟,rider,,暂停,",
)


def test_an_import_applies_in_one_go_a_repeat_changes_nothing_and_a_dry_run_writes_nothing(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        done = import_roster(session, ROSTER, filename="roster.csv", by="ann", dry_run=False)
        assert (done.rows, done.created, done.applied) == (3, ["M0101", "M0102", "M0103"], True)
        assert done.version > 0
        stored = session.get(Member, "M0102")
        assert stored is not None
        assert (stored.groups, stored.phone_tail, stored.standing) == (
            ["sanitation", "courier"],
            "5678",
            "active",
        )
        (audit,) = session.exec(select(MemberAudit).where(MemberAudit.member_id == "M0101"))
        assert (audit.by, audit.note) == ("ann", "import roster.csv")

        again = import_roster(session, ROSTER, filename="roster.csv", by="ann", dry_run=False)
        assert (again.unchanged, again.applied, again.version) == (done.created, True, done.version)

        changed = ROSTER.replace("刘阿姨".encode(), "刘芳".encode())
        dry = import_roster(session, changed, filename="roster.csv", by="ann", dry_run=True)
        assert (dry.updated, dry.applied, dry.version) == (["M0102"], False, 0)
        stored = session.get(Member, "M0102", populate_existing=True)
        assert stored is not None
        assert stored.display_name == "刘阿姨"


def test_one_refused_row_applies_nothing_and_the_report_says_what_the_rest_would_do(
    engine: Engine,
) -> None:
    bad = ROSTER + "\r\nM0104,,骑士,,,".encode()
    with Session(engine) as session:
        report = import_roster(session, bad, filename="roster.csv", by="ann", dry_run=False)
        assert (report.rows, report.applied, report.version) == (4, False, 0)
        assert report.created == ["M0101", "M0102", "M0103"]
        (refused,) = report.refused
        assert (refused.row, refused.member_id, refused.reason) == (5, "M0104", "unknown_group")
        assert "rider (外卖骑手)" in refused.message
        assert session.exec(select(Member)).all() == []
        with pytest.raises(ImportFileError):
            import_roster(session, b"\0", filename="roster.csv", by="ann", dry_run=False)
    assert gc.isenabled()  # paused for the import's speed, and only then


def test_columns_the_file_lacks_keep_what_is_stored(engine: Engine) -> None:
    with Session(engine) as session:
        import_roster(session, ROSTER, filename="roster.csv", by="ann", dry_run=False)
        set_standing(session=session, member_id="M0101", standing=Standing.SUSPENDED, by="ann")
        # Stored before a member's groups had to fit a door code: kept, not a failed import.
        old_groups = ["rider", "courier", "sanitation", "driver", "trucker"]
        upsert_member(session=session, member_id="M0150", groups=old_groups)
        names = csv_file("会员号,姓名", "M0101,陈建国", "M0150,老会员", "M0199,新会员")
        report = import_roster(session, names, filename="names.csv", by="ann", dry_run=False)
        assert (report.updated, report.created) == (["M0101", "M0150"], ["M0199"])
        old = session.get(Member, "M0150", populate_existing=True)
        assert old is not None
        assert (old.display_name, old.groups) == ("老会员", old_groups)
        stored = session.get(Member, "M0101", populate_existing=True)
        assert stored is not None
        assert (stored.display_name, stored.standing, stored.phone_tail) == (
            "陈建国",
            "suspended",
            "3131",
        )
        assert stored.groups == ["rider"]
        assert stored.valid_until is not None


TRICKY = [
    RosterEntry(
        member_id="-m1",
        display_name='=HYPERLINK("http://x","点我")',
        groups=("rider", "courier"),
        valid_until=datetime(2027, 12, 31, 16, 0, 0, 5, tzinfo=UTC),
        phone_tail="0012",
    ),
    RosterEntry(member_id="m-2", display_name="+86 王", standing=Standing.REVOKED),
    RosterEntry(member_id="m-3", display_name="@家", standing=Standing.SUSPENDED),
    RosterEntry(member_id="m-4", display_name="'引号"),
    RosterEntry(member_id="m-5"),
]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_is_safe_to_open_and_reimports_unchanged(engine: Engine, fmt: str) -> None:
    with Session(engine) as session:
        upsert(session=session, entries=TRICKY, by="ann")
        data = export_roster(session, fmt="csv" if fmt == "csv" else "xlsx")
        if fmt == "csv":
            assert data.startswith(b"\xef\xbb\xbf")
            rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        else:
            sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
            rows = [["" if v is None else str(v) for v in row] for row in sheet.values]
        assert rows[0] == list(COLUMNS)
        assert rows[1] == [
            "'-m1",
            """'=HYPERLINK("http://x","点我")""",
            "rider courier",
            "2027-12-31T16:00:00.000005+00:00",
            "active",
            "0012",
        ]
        assert [row[1] for row in rows[2:]] == ["'+86 王", "'@家", "''引号", ""]
        report = import_roster(session, data, filename=f"members.{fmt}", by="ann", dry_run=True)
        assert report.refused == []
        assert report.unchanged == [e.member_id for e in TRICKY]
