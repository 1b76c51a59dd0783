"""The aggregates and docking routes: shapes, local times, pagination and venue scope."""

import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning

from cloud.aggregates.occupancy import set_venue_settings
from cloud.aggregates.rollups import run_rollups
from cloud.api.app import create_app
from cloud.api.auth_deps import current_principal
from cloud.auth.principal import Principal, Role
from cloud.settings import CloudSettings
from tests.cloud.aggregates.conftest import NOW, OPTIONS, add, reading, shanghai, visit

with warnings.catch_warnings():
    # As in tests/cloud/test_api.py: Starlette warns when it falls back to httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

ADMIN = Principal(subject="admin", role=Role.ADMIN)
MANAGER_V2 = Principal(subject="wang", role=Role.MANAGER, venue_ids=frozenset({"v2"}))
MANAGER_V1 = Principal(subject="li", role=Role.MANAGER, venue_ids=frozenset({"v1"}))
SINCE = "2024-04-30T00:00:00%2B08:00"
UNTIL = "2024-05-01T12:00:00%2B08:00"


class Caller:
    principal: Principal = ADMIN


@pytest.fixture
def caller() -> Caller:
    return Caller()


@pytest.fixture
def client(engine: Engine, caller: Caller) -> Iterator[TestClient]:
    add(
        engine,
        reading("people_in", 3, shanghai(2024, 4, 30, 23, 30)),
        reading("people_out", 1, shanghai(2024, 5, 1, 0, 30)),
        visit(shanghai(2024, 5, 1, 9, 0), "m1"),
        reading("people_in", 2, shanghai(2024, 5, 1, 10, 0)),
        reading("temperature_c", 5.0, shanghai(2024, 5, 1, 9, 10), sensor="fridge"),
        reading("temperature_c", 7.0, shanghai(2024, 5, 1, 9, 20), sensor="fridge"),
        reading("power_w", 100.0, shanghai(2024, 5, 1, 9, 10)),
        reading("power_w", 300.0, shanghai(2024, 5, 1, 9, 40)),
        reading("energy_kwh", 10.0, shanghai(2024, 5, 1, 1, 0)),
        reading("energy_kwh", 13.0, shanghai(2024, 5, 1, 11, 0)),
    )
    set_venue_settings(engine, "v1", now=NOW, capacity=2)
    run_rollups(engine, now=NOW, options=OPTIONS)
    app = create_app(settings=CloudSettings(mode="development"), engine=engine, clock=lambda: NOW)
    app.dependency_overrides[current_principal] = lambda: caller.principal
    with TestClient(app) as client:
        yield client


def get(client: TestClient, path: str) -> dict[str, Any]:
    response = client.get(f"/api/v1{path}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_occupancy_now_with_capacity_and_local_time(client: TestClient) -> None:
    body = get(client, "/venues/v1/occupancy")
    # Since the 04:00 reset: a member at the door (no counter that hour), then 2 counted in.
    assert body["count"] == 3
    assert (body["capacity"], body["over_capacity"]) == (2, True)
    assert body["updated_at"] == "2024-05-01T04:00:00+00:00"
    assert body["local"] == "2024-05-01T12:00:00+08:00"


def test_a_manager_sets_the_count(client: TestClient, caller: Caller) -> None:
    caller.principal = MANAGER_V1
    response = client.put("/api/v1/venues/v1/occupancy", json={"count": 1})
    assert response.status_code == 200, response.text
    assert response.json()["reconciled_by"] == "manager:li"
    assert get(client, "/venues/v1/occupancy")["count"] == 1


def test_traffic_by_hour_and_by_local_day(client: TestClient) -> None:
    hours = get(client, f"/venues/v1/traffic?resolution=hour&since={SINCE}&until={UNTIL}")
    assert hours["count"] == 4
    assert hours["data"][0] == {
        "start": "2024-04-30T15:00:00+00:00",
        "local": "2024-04-30T23:00:00+08:00",
        "people_in": 3,
        "people_out": 0,
        "visits": 0,
        "unique_members": 0,
    }
    days = get(client, f"/venues/v1/traffic?resolution=day&since={SINCE}&until={UNTIL}")
    assert [(d["date"], d["people_in"], d["visits"]) for d in days["data"]] == [
        ("2024-04-30", 3, 0),
        ("2024-05-01", 2, 1),
    ]
    assert days["data"][1]["local"] == "2024-05-01T00:00:00+08:00"


def test_pagination(client: TestClient) -> None:
    page = get(client, f"/venues/v1/traffic?since={SINCE}&until={UNTIL}&limit=1&offset=1")
    assert (page["count"], page["limit"], page["offset"], len(page["data"])) == (4, 1, 1, 1)
    assert page["data"][0]["local"] == "2024-05-01T00:00:00+08:00"


def test_energy_temperature_and_occupancy_history(client: TestClient) -> None:
    energy = get(client, f"/venues/v1/energy?since={SINCE}&until={UNTIL}")
    assert [(d["date"], d["kwh"]) for d in energy["data"]] == [("2024-05-01", 3.0)]
    temps = get(client, f"/venues/v1/temperature?since={SINCE}&until={UNTIL}")
    assert [(d["sensor"], d["min_c"], d["avg_c"], d["max_c"]) for d in temps["data"]] == [
        ("fridge", 5.0, 6.0, 7.0)
    ]
    history = get(client, f"/venues/v1/occupancy/history?since={SINCE}&until={UNTIL}")
    assert history["data"][-1]["count"] == 3


def test_telemetry_rollup_at_each_resolution(client: TestClient) -> None:
    base = f"/venues/v1/telemetry/rollup?since={SINCE}&until={UNTIL}"
    raw = get(client, f"{base}&metric=power_w&resolution=raw")
    assert [d["value"] for d in raw["data"]] == [100.0, 300.0]
    hour = get(client, f"{base}&metric=power_w&resolution=hour")
    assert [(d["avg"], d["max"], d["count"]) for d in hour["data"]] == [(200.0, 300.0, 2)]
    day = get(client, f"{base}&metric=energy_kwh&resolution=day")
    assert [(d["date"], d["sum"]) for d in day["data"]] == [("2024-05-01", 3.0)]
    people = get(client, f"{base}&metric=people_in&resolution=day")
    assert [d["sum"] for d in people["data"]] == [3, 2]
    bad = client.get(f"/api/v1{base}&metric=energy_kwh&resolution=hour")
    assert bad.status_code == 422
    assert set(bad.json()) == {"error"}


def test_a_manager_gets_404_for_another_venue(client: TestClient, caller: Caller) -> None:
    caller.principal = MANAGER_V2
    for path in (
        "occupancy",
        "traffic",
        "energy",
        "temperature",
        "occupancy/history",
        "telemetry/rollup?metric=power_w",
    ):
        response = client.get(f"/api/v1/venues/v1/{path}")
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "venue_not_found"
    assert client.put("/api/v1/venues/v1/occupancy", json={"count": 0}).status_code == 404


def test_docking_pull_is_scoped_to_the_callers_venues(client: TestClient, caller: Caller) -> None:
    everyone = get(client, "/docking/daily?date=2024-05-01")
    assert everyone["schema"] == "yizhan.docking.daily/1"
    assert [(v["venue"], v["visits"], v["energy_kwh"]) for v in everyone["venues"]] == [
        ("v1", 1, 3.0),
        ("v2", 0, None),
    ]
    caller.principal = MANAGER_V2
    mine = get(client, "/docking/daily?date=2024-05-01")
    assert [v["venue"] for v in mine["venues"]] == ["v2"]
    assert mine["count"] == 1
    default = get(client, "/docking/daily")
    assert default["date"] == (NOW + timedelta(hours=8) - timedelta(days=1)).date().isoformat()
