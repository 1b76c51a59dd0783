"""Security review: dates at the edges of the calendar are refused with a 400, never a 500."""

from __future__ import annotations

import pytest

from tests.cloud.notify.conftest import Site

PATHS = [
    "/reports/venue/v1?period=month&date=9999-12-15",
    "/reports/venue/v1?period=week&date=9999-12-31",
    "/reports/venue/v1?period=week&date=0001-01-01",
    "/reports/venue/v1?period=day&date=0001-01-01",
    "/reports/venue/v1?period=day&date=2025-02-30",
    "/reports/venue/v1?period=day&date=%E4%BB%8A%E5%A4%A9",
    "/reports/exports/alerts?from=0001-01-01&to=0001-01-02",
    "/reports/exports/alerts?from=9999-12-30&to=9999-12-31",
    "/reports/exports/access-events?venue=v1&from=0001-01-01&to=0001-01-01",
    "/reports/exports/venues/v1/traffic?resolution=day&from=0001-01-01&to=0001-01-05",
    "/reports/exports/venues/v1/temperature?from=9999-12-31&to=9999-12-31",
    "/reports/exports/venues/v1/traffic?resolution=day&from=2015-01-01&to=2025-07-01",
    "/reports/exports/access-events?venue=v1&from=2015-01-01&to=2025-07-01",
]


@pytest.mark.parametrize("path", PATHS)
def test_an_edge_date_is_an_answer_not_a_crash(site: Site, path: str) -> None:
    answer = site.call("mia", "GET", path)

    assert answer.status_code in (200, 400), (answer.status_code, answer.text[:300])
