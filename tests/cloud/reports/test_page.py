"""The reports page: the figures of the chosen report, its download links, subscriptions."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.cloud.reports.world import DISTRICT, PASSWORD, RIDERS, RIDERS_NAME
from tests.cloud.web.helpers import sign_in


def _figure(html: str, row: str, key: str) -> str:
    found = re.search(rf"<tr {row}>.*?data-figure=\"{key}\">([^<]*)<", html, re.DOTALL)
    assert found is not None, f"no {key} in the {row} row"
    return found.group(1)


def test_a_managers_page_shows_their_venue_and_links_the_files(client: TestClient) -> None:
    sign_in(client, "mia", password=PASSWORD)
    html = client.get(
        "/reports", params={"target": f"venue:{RIDERS}", "period": "month", "date": "2026-11-17"}
    ).text

    assert f"{RIDERS_NAME} 月报（2026年11月）" in html
    assert _figure(html, "data-report-venue", "visits") == "15"
    assert _figure(html, "data-report-venue", "fridge_minutes") == "85.0"
    assert (
        f'href="/api/v1/reports/venue/{RIDERS}?period=month&amp;date=2026-11-01&amp;lang=zh-CN&amp;format=pdf"'
        in html
    )
    assert 'value="district:徐汇区"' in html
    assert "pudong" not in html
    assert 'data-api-form="/api/v1/reports/subscriptions"' in html
    assert '<table class="cards" data-report-table>' in html


def test_a_district_row_per_venue_and_a_total_and_future_dates_explained(
    client: TestClient,
) -> None:
    sign_in(client, "ada", password=PASSWORD)
    district = client.get(
        "/reports",
        params={"target": f"district:{DISTRICT}", "period": "month", "date": "2026-11-01"},
    ).text
    future = client.get("/reports", params={"period": "week", "date": "2026-12-07"}).text

    assert district.count("<tr data-report-venue>") == 3
    assert _figure(district, "data-report-total", "visits") == "25"
    assert 'data-report-problem="future_period"' in future
    assert "这个周期还没开始" in future


def test_the_venue_and_alerts_pages_export_what_they_show(client: TestClient) -> None:
    sign_in(client, "mia", password=PASSWORD)
    venue = client.get(f"/venues/{RIDERS}", params={"from": "2026-11-01", "to": "2026-11-30"}).text
    alerts = client.get("/alerts").text

    traffic = f"/api/v1/reports/exports/venues/{RIDERS}/traffic"
    assert f'formaction="{traffic}" name="resolution" value="day"' in venue
    assert '<input type="hidden" name="from" value="2026-11-01">' in venue
    assert 'action="/api/v1/reports/exports/alerts"' in alerts
    # What the alerts page's form sends with every venue and no dates chosen:
    sent = client.get(
        "/api/v1/reports/exports/alerts",
        params={"venue": "", "lang": "zh-CN", "from": "", "to": "", "format": "csv"},
    )
    assert sent.status_code == 200, sent.text
    assert sent.headers["content-disposition"].startswith('attachment; filename="alerts-all-')
