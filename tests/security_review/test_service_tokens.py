"""Security review: what a box's own API token may read of the new reports and exports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cloud.auth_world import VENUE_A, World, open_world
from tests.cloud.test_device_token_scopes import add_box, auth

RANGE = "from=2025-05-31&to=2025-06-01"
PATHS = [
    f"/api/v1/reports/venue/{VENUE_A}",
    f"/api/v1/reports/venue/{VENUE_A}?format=xlsx",
    f"/api/v1/reports/exports/access-events?venue={VENUE_A}&{RANGE}",
    f"/api/v1/reports/exports/alerts?venue={VENUE_A}&{RANGE}",
    f"/api/v1/reports/exports/venues/{VENUE_A}/traffic?{RANGE}",
]


@pytest.fixture
def world(migrated_db_url: str) -> Iterator[World]:
    with open_world(migrated_db_url) as world:
        yield world


@pytest.mark.parametrize("path", PATHS)
def test_a_sensor_hubs_token_downloads_no_report_or_export(world: World, path: str) -> None:
    hub = add_box(world, "hub-alpha", "sensor-hub")

    response = world.client.get(path, headers=auth(hub))

    assert response.status_code == 403, response.text[:200]


@pytest.mark.parametrize("who", ["mel", "nobody"])
@pytest.mark.parametrize("path", PATHS)
def test_members_and_strangers_get_no_report_or_export(world: World, path: str, who: str) -> None:
    response = world.client.get(path, headers=world.headers(who))

    assert response.status_code in (401, 403)


def test_a_manager_exports_no_other_venue_and_no_member_ids(world: World) -> None:
    all_of_mine = world.client.get(
        f"/api/v1/reports/exports/access-events?{RANGE}", headers=world.headers("mia")
    )
    theirs = world.client.get(
        f"/api/v1/reports/exports/access-events?venue=venue-bravo&{RANGE}",
        headers=world.headers("mia"),
    )
    district = world.client.get("/api/v1/reports/district/none", headers=world.headers("mia"))

    assert all_of_mine.status_code == 200
    assert "venue-bravo" not in all_of_mine.text
    assert "Workers' home" not in all_of_mine.text
    assert "M-ALICE" not in all_of_mine.text
    assert "M-BOB" not in all_of_mine.text
    assert theirs.status_code == 404
    assert district.status_code == 404
