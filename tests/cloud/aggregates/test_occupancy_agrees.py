"""The API's occupancy and traffic answer from what ingest stored a moment ago, and agree
with the dashboard's figures, with no rollup job run in between (issue 16)."""

import json
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import StarletteDeprecationWarning

from cloud.aggregates.rollups import run_rollups
from cloud.api.app import create_app
from cloud.api.auth_deps import current_principal
from cloud.auth.principal import Principal, Role
from cloud.ingest.inbound import Inbound, classify
from cloud.ingest.store import IngestStore
from cloud.models import Venue
from cloud.settings import CloudSettings
from cloud.web.pages.overview import venue_rows
from tests.cloud.aggregates.conftest import OPTIONS, shanghai

with warnings.catch_warnings():
    # As in tests/cloud/test_api.py: Starlette warns when it falls back to httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

START = shanghai(2024, 5, 1, 11, 50)
QUIET = CloudSettings(mode="development").jobs.occupancy_quiet_hour


class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(engine: Engine, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings=CloudSettings(mode="development"), engine=engine, clock=clock)
    app.dependency_overrides[current_principal] = lambda: Principal("admin", Role.ADMIN)
    with TestClient(app) as client:
        yield client


def ingest(engine: Engine, at: datetime, metric: str, value: float, **extra: Any) -> None:
    """One reading of device d1 in venue v1, stored by the ingest's own store."""
    item = {"seq": int(at.timestamp()), "ts": at.isoformat(), "metric": metric, "value": value}
    payload = json.dumps({"v": 1, "device": "d1", "items": [item | extra]}).encode()
    message: Inbound = classify(0, "yz/v1/v1/d1/telemetry", payload)
    IngestStore(engine, clock=lambda: at).write([message])


def get(client: TestClient, path: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/venues/v1{path}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def dashboard_inside(engine: Engine, now: datetime) -> int:
    with Session(engine) as session:
        venue = session.get(Venue, "v1")
        assert venue is not None
        (row,) = venue_rows(session.connection(), [venue], now=now, quiet_hour=QUIET)
    return row.inside


def test_occupancy_counts_readings_stored_a_moment_ago(
    engine: Engine, client: TestClient, clock: Clock
) -> None:
    ingest(engine, START, "people_in", 15)
    ingest(engine, START + timedelta(minutes=1), "people_out", 2)
    clock.now = START + timedelta(minutes=1, seconds=1)

    body = get(client, "/occupancy")

    assert body["count"] == 13 == dashboard_inside(engine, clock.now)
    assert body["updated_at"] == clock.now.isoformat()
    assert body["reconciled_by"] == "quiet_hour"


def test_occupancy_agrees_with_the_dashboard_across_a_rollup(
    engine: Engine, client: TestClient, clock: Clock
) -> None:
    ingest(engine, START, "people_in", 15)
    run_rollups(engine, now=START + timedelta(minutes=1), options=OPTIONS)
    ingest(engine, START + timedelta(minutes=2), "people_out", 4)
    ingest(engine, START + timedelta(minutes=12), "people_in", 1)  # the next hour
    for minutes in (3, 11, 13):
        clock.now = START + timedelta(minutes=minutes)
        expected = dashboard_inside(engine, clock.now)
        assert get(client, "/occupancy")["count"] == expected
    assert expected == 12


def test_traffic_and_temperature_include_rows_not_yet_rolled_up(
    engine: Engine, client: TestClient, clock: Clock
) -> None:
    ingest(engine, START, "people_in", 15)
    ingest(engine, START + timedelta(minutes=1), "temperature_c", 5.0, sensor="fridge")
    run_rollups(engine, now=START + timedelta(minutes=2), options=OPTIONS)
    ingest(engine, START + timedelta(minutes=3), "people_out", 2)
    ingest(engine, START + timedelta(minutes=4), "temperature_c", 7.0, sensor="fridge")
    clock.now = START + timedelta(minutes=5)

    traffic = get(client, "/traffic")
    assert traffic["rolled_up_at"] == (START + timedelta(minutes=2)).isoformat()
    (hour,) = traffic["data"]
    assert (hour["start"], hour["people_in"], hour["people_out"]) == (
        shanghai(2024, 5, 1, 11, 0).isoformat(),
        15,
        2,
    )
    (day,) = get(client, "/traffic?resolution=day")["data"]
    assert (day["date"], day["people_in"], day["people_out"]) == ("2024-05-01", 15, 2)
    (temperature,) = get(client, "/temperature")["data"]
    assert (temperature["min_c"], temperature["max_c"], temperature["count"]) == (5.0, 7.0, 2)
    rollup = get(client, "/telemetry/rollup?metric=people_out")
    assert [d["sum"] for d in rollup["data"]] == [2]
    raw = get(client, "/telemetry?metric=people_out")
    assert [r["value"] for r in raw["data"]] == [2]


def test_before_any_rollup_every_bucket_is_computed_from_raw_rows(
    engine: Engine, client: TestClient, clock: Clock
) -> None:
    ingest(engine, START - timedelta(hours=2), "people_in", 3)
    ingest(engine, START, "people_in", 4)
    clock.now = START + timedelta(minutes=1)

    body = get(client, "/traffic")
    rows = body["data"]
    assert body["rolled_up_at"] is None

    assert [r["people_in"] for r in rows] == [3, 4]
    assert get(client, "/traffic?limit=1&offset=1")["data"] == rows[1:]
    assert get(client, "/traffic")["count"] == 2
