"""Injection attempts and absurd time ranges: refused with a reason, harming nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.cloud.auth_world import VENUE_A, World, open_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(f"sqlite:///{tmp_path / 'cloud.db'}") as world:
        yield world


INJECTIONS = [
    "' OR '1'='1",
    "x'; DROP TABLE reading; --",
    "temperature_c UNION SELECT password_hash FROM auth_user",
    "../../etc/passwd",
    "%00",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("attack", INJECTIONS)
def test_injections_in_queries_are_refused_and_change_nothing(world: World, attack: str) -> None:
    admin = world.headers("ada")
    with world.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM reading")).scalar_one()
    answers = [
        world.client.get(
            f"/api/v1/venues/{VENUE_A}/telemetry", params={"metric": attack}, headers=admin
        ),
        world.client.get(f"/api/v1/venues/{attack}", headers=admin),
        world.client.get(
            "/api/v1/access-events", params={"venue": attack, "reason": attack}, headers=admin
        ),
        world.client.get(
            f"/api/v1/venues/{VENUE_A}/traffic", params={"resolution": attack}, headers=admin
        ),
        world.client.get("/api/v1/devices", params={"venue_id": attack}, headers=admin),
    ]
    for response in answers:
        assert response.status_code in (200, 404, 422), response.text
        body = response.json()
        if response.status_code != 200:
            assert body["error"]["message"]
        assert "$argon2" not in response.text  # echoing the input is fine; leaking a hash is not
    with world.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reading")).scalar_one() == before


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2025-06-01T10:00:00Z", "2025-06-01T09:00:00Z"),  # backwards
        ("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"),  # ten thousand years
        ("2025-06-01T10:00:00", "2025-06-01T11:00:00Z"),  # no time zone
        ("yesterday", "2025-06-01T11:00:00Z"),
        ("2025-02-30T00:00:00Z", "2025-03-01T00:00:00Z"),  # no such day
    ],
)
def test_absurd_time_ranges_are_a_clear_422(world: World, since: str, until: str) -> None:
    admin = world.headers("ada")
    for path, extra in (
        (f"/api/v1/venues/{VENUE_A}/telemetry", {"metric": "temperature_c"}),
        (f"/api/v1/venues/{VENUE_A}/traffic", {"resolution": "hour"}),
        (f"/api/v1/venues/{VENUE_A}/energy", {}),
        (f"/api/v1/venues/{VENUE_A}/occupancy/history", {}),
    ):
        response = world.client.get(
            path, params={"since": since, "until": until, **extra}, headers=admin
        )
        assert response.status_code == 422, (path, since, until, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert any(d.get("field", "").endswith(("since", "until")) for d in error["details"]) or (
            "since" in error["message"] or "until" in error["message"]
        ), error
