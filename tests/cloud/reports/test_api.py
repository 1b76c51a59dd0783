"""The reports API: figures, files that open with the right words and numbers, scope, errors."""

from __future__ import annotations

import io
from urllib.parse import quote

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader

from tests.cloud.reports.conftest import Headers
from tests.cloud.reports.world import DISTRICT, EXPECTED, RIDERS, RIDERS_EN, RIDERS_NAME, local

MONTH = {"period": "month", "date": "2026-11-17"}


def test_a_manager_gets_their_venues_month_as_json(client: TestClient, headers: Headers) -> None:
    answer = client.get(f"/api/v1/reports/venue/{RIDERS}", params=MONTH, headers=headers("mia"))

    assert answer.status_code == 200, answer.text
    body = answer.json()
    total = body["venues"][0]["total"]
    assert {k: total[k] for k in EXPECTED} == EXPECTED
    assert total["peak_at"] == "2026-11-30T23:00:00+08:00"
    assert body["period"] == {"kind": "month", "first": "2026-11-01", "last": "2026-11-30"}


def test_the_xlsx_has_chinese_headers_numbers_and_dates(
    client: TestClient, headers: Headers
) -> None:
    answer = client.get(
        f"/api/v1/reports/venue/{RIDERS}", params={**MONTH, "format": "xlsx"},
        headers=headers("mia"),
    )  # fmt: skip

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"].endswith(
        "filename*=UTF-8''riders-month-2026-11.xlsx"
    )
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["汇总", "每日", "温度", "告警"]
    summary = book["汇总"]
    titles = [str(c.value) for c in summary[3]]
    row = dict(zip(titles, [c.value for c in summary[4]], strict=True))
    assert row["阵地"] == RIDERS_NAME
    assert row["到访人次"] == 15
    assert isinstance(row["到访人次"], int)
    assert row["用电量（千瓦时）"] == 5.75
    assert row["冰箱超温（分钟）"] == 85.0
    assert row["确认用时中位数（分钟）"] == 10.0
    assert row["高峰时段"] == local(2026, 11, 30, 23)
    assert summary.cell(row=4, column=titles.index("到访人次") + 1).number_format == "0"
    days = book["每日"]
    first = [c.value for c in days[2]]
    assert first[:3] == [local(2026, 11, 1), RIDERS_NAME, 10]
    assert days.max_row == 31  # the header and 30 days


def test_english_words_and_names_for_an_english_reader(
    client: TestClient, headers: Headers
) -> None:
    answer = client.get(
        f"/api/v1/reports/venue/{RIDERS}", params={**MONTH, "format": "xlsx", "lang": "en"},
        headers=headers("mia"),
    )  # fmt: skip

    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames[0] == "Summary"
    summary = book["Summary"]
    assert summary["A1"].value == f"{RIDERS_EN}: monthly report, November 2026"
    assert "Visits" in [c.value for c in summary[3]]
    assert summary["A4"].value == RIDERS_EN


def test_the_pdf_reads_back_with_its_chinese_words_and_figures(
    client: TestClient, headers: Headers
) -> None:
    answer = client.get(
        f"/api/v1/reports/district/{DISTRICT}", params={**MONTH, "format": "pdf"},
        headers=headers("ada"),
    )  # fmt: skip

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    disposition = answer.headers["content-disposition"]
    assert f"filename*=UTF-8''{quote(DISTRICT)}-month-2026-11.pdf" in disposition
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
    for words in (
        "徐汇区 月报（2026年11月）",
        "到访人次",
        "冰箱超温（分钟）",
        RIDERS_NAME,
        "饮料冰箱",
    ):
        assert words in text
    assert "\n25\n" in text  # the district's visits: 15 + 7 + 3
    assert "85.0" in text
    assert "5.75" in text


def test_a_district_report_holds_only_the_callers_venues(
    client: TestClient, headers: Headers
) -> None:
    body = client.get(
        f"/api/v1/reports/district/{DISTRICT}", params=MONTH, headers=headers("mia")
    ).json()

    assert [v["id"] for v in body["venues"]] == [RIDERS]
    assert body["total"]["visits"] == 15


def test_another_venues_manager_finds_no_such_venue_or_district(
    client: TestClient, headers: Headers
) -> None:
    venue = client.get(f"/api/v1/reports/venue/{RIDERS}", params=MONTH, headers=headers("max"))
    district = client.get(
        f"/api/v1/reports/district/{DISTRICT}", params=MONTH, headers=headers("max")
    )

    assert venue.status_code == 404
    assert venue.json()["error"]["code"] == "venue_not_found"
    assert district.status_code == 404
    assert district.json()["error"]["code"] == "district_not_found"
    assert RIDERS_NAME not in venue.text + district.text


def test_bad_requests_carry_stable_codes(client: TestClient, headers: Headers) -> None:
    admin = headers("ada")
    cases = {
        "bad_date": {"period": "day", "date": "30/11/2026"},
        "future_period": {"period": "week", "date": "2026-12-07"},
        "unknown_period": {"period": "year"},
        "unknown_format": {"period": "day", "format": "docx"},
    }
    for code, params in cases.items():
        answer = client.get(f"/api/v1/reports/venue/{RIDERS}", params=params, headers=admin)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, code), answer.text


def test_the_current_week_so_far_is_a_period_and_day_is_yesterday_by_default(
    client: TestClient, headers: Headers
) -> None:
    url = f"/api/v1/reports/venue/{RIDERS}"
    week = client.get(url, params={"period": "week", "date": "2026-12-06"}, headers=headers("ada"))
    day = client.get(url, headers=headers("ada"))

    assert week.json()["period"]["first"] == "2026-11-30"
    assert week.json()["total"]["visits"] == 5 + 200
    assert day.json()["period"]["first"] == "2026-12-05"
