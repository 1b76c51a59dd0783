"""The read API against a real migrated database: listing, telemetry, errors and auth."""

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import Engine, create_engine
from sqlmodel import Session
from starlette.exceptions import StarletteDeprecationWarning

from cloud.api import errors
from cloud.api.app import create_app
from cloud.auth.settings import AuthSettings
from cloud.devices.settings import BrokerSettings
from cloud.models import Reading, Venue
from cloud.settings import CloudSettings, InsecureSettingsError
from protocol import kiosk
from protocol.metrics import METRICS

with warnings.catch_warnings():
    # Starlette 1.10 prefers the httpx2 fork and warns when it falls back to httpx, which
    # is what the dev dependencies install; the fallback works the same for these tests.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

NOW = datetime(2024, 5, 2, 0, 0, tzinfo=UTC)
TOKEN = "k3J9-x2Qm_Pz7Lw4Vn8Rt1Yb6Hc5Fd0Gs"  # 34 random-looking characters
TELEMETRY = "/api/v1/venues/v1/telemetry"
JWT_SECRET = SecretStr("Zr8-qT3vLx9_Np2Wm6Ks4Hd7Bf1Gy5Jc0")


def strong_auth() -> AuthSettings:
    return AuthSettings(jwt_secret=JWT_SECRET)


def strong_broker() -> BrokerSettings:
    return BrokerSettings(security="dynsec", control_password=SecretStr(TOKEN))


def dev_settings(**overrides: Any) -> CloudSettings:
    return CloudSettings(mode="development", **overrides)


def reading(seq: int, *, ts: datetime, metric: str = "temperature_c", **fields: Any) -> Reading:
    values: dict[str, Any] = {"device_id": "d1", "venue_id": "v1", "sensor": "s1", "value": 4.0}
    return Reading(seq=seq, ts=ts, metric=metric, **(values | fields))


def seed(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Venue(id="v1", name="Riders' station", timezone="Asia/Shanghai"))
        session.add(Venue(id="v2", name="Workers' home", kind="home"))
        session.add(Venue(id="v3", name="Library", kind="library", timezone="Asia/Urumqi"))
        session.add_all(
            [
                reading(1, ts=NOW - timedelta(hours=30)),
                reading(2, ts=NOW - timedelta(hours=2), value=5.5),
                reading(3, ts=NOW - timedelta(hours=1), sensor="s2", value=6.0),
                reading(4, ts=NOW - timedelta(minutes=1), device_id="d2"),
                reading(5, ts=NOW - timedelta(hours=1), metric="energy_kwh", value=12.0),
                reading(6, ts=NOW - timedelta(hours=1), venue_id="v2"),
            ]
        )
        session.commit()


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    seed(engine)
    settings = dev_settings(api_token=SecretStr(TOKEN))
    app = create_app(settings=settings, engine=engine, clock=lambda: NOW)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


# --- health ----------------------------------------------------------------------------


def test_healthz_checks_the_database(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    # A directory is not a database file: every connect fails, as with a database gone.
    engine = create_engine(f"sqlite:///{tmp_path}")
    try:
        with TestClient(create_app(settings=dev_settings(), engine=engine)) as client:
            error = assert_error(client.get("/healthz"), 503, "database_unavailable")
    finally:
        engine.dispose()
    assert "YZ_CLOUD_DATABASE_URL" in error["message"]


# --- venues ----------------------------------------------------------------------------


# A venue nobody described yet: no English name, open 24 hours, guests welcome, the first
# poster, boxes updated in the small hours.
NO_PROFILE: dict[str, object] = {
    "name_en": None,
    "update_window_start": "03:00",
    "update_window_end": "05:00",
    "latitude": None,
    "longitude": None,
    "address": None,
    "description": None,
    "amenities": [],
    "hours": [],
    "admits_guests": True,
    "poster_edition": 1,
}


def test_venues_are_listed_with_their_timezone(client: TestClient) -> None:
    body = client.get("/api/v1/venues").json()

    assert body["count"] == 3
    assert [v["id"] for v in body["data"]] == ["v1", "v2", "v3"]
    assert body["data"][0] == {
        "id": "v1",
        "name": "Riders' station",
        "kind": "station",
        "timezone": "Asia/Shanghai",
        "district": None,
        **NO_PROFILE,
    }


def test_venues_are_paginated(client: TestClient) -> None:
    body = client.get("/api/v1/venues", params={"limit": 1, "offset": 1}).json()

    assert body["count"] == 3
    assert [v["id"] for v in body["data"]] == ["v2"]


@pytest.mark.parametrize(("param", "value"), [("limit", 0), ("limit", 1001), ("offset", -1)])
def test_bad_pagination_is_422(client: TestClient, param: str, value: int) -> None:
    error = assert_error(
        client.get("/api/v1/venues", params={param: value}), 422, "invalid_request"
    )

    assert [d["field"] for d in error["details"]] == [f"query.{param}"]


def test_one_venue(client: TestClient) -> None:
    body = client.get("/api/v1/venues/v3").json()

    assert body == {
        "id": "v3",
        "name": "Library",
        "kind": "library",
        "timezone": "Asia/Urumqi",
        "district": None,
        **NO_PROFILE,
    }


def test_unknown_venue_is_404(client: TestClient) -> None:
    error = assert_error(client.get("/api/v1/venues/nope"), 404, "venue_not_found")

    assert "GET /api/v1/venues" in error["message"]


def test_unknown_route_is_404_in_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_in_the_error_shape(client: TestClient) -> None:
    assert_error(client.put("/api/v1/venues"), 405, "method_not_allowed")


# --- telemetry -------------------------------------------------------------------------


def test_telemetry_defaults_to_the_last_24_hours(client: TestClient) -> None:
    body = client.get(TELEMETRY, params={"metric": "temperature_c"}).json()

    assert [(r["device_id"], r["seq"]) for r in body["data"]] == [("d1", 2), ("d1", 3), ("d2", 4)]
    assert body["since"] == "2024-05-01T00:00:00+00:00"
    assert body["until"] == "2024-05-02T00:00:00+00:00"
    assert body["unit"] == "°C"
    assert body["timezone"] == "Asia/Shanghai"
    assert body["truncated"] is False
    assert body["data"][0] == {
        "device_id": "d1",
        "seq": 2,
        "metric": "temperature_c",
        "sensor": "s1",
        "ts": "2024-05-01T22:00:00+00:00",
        "value": 5.5,
    }


def test_telemetry_window_accepts_any_offset(client: TestClient) -> None:
    # 07:30+08:00 is 23:30Z: it keeps the readings at 22:00Z and 23:00Z, not 23:59Z.
    params = {"metric": "temperature_c", "since": "2024-05-01T17:00:00Z"}
    params["until"] = "2024-05-02T07:30:00+08:00"

    body = client.get(TELEMETRY, params=params).json()

    assert [r["seq"] for r in body["data"]] == [2, 3]
    assert body["until"] == "2024-05-01T23:30:00+00:00"


def test_telemetry_filters_by_sensor(client: TestClient) -> None:
    body = client.get(TELEMETRY, params={"metric": "temperature_c", "sensor": "s2"}).json()

    assert [r["seq"] for r in body["data"]] == [3]


def test_telemetry_filters_by_metric(client: TestClient) -> None:
    body = client.get(TELEMETRY, params={"metric": "energy_kwh"}).json()

    assert [(r["seq"], r["value"]) for r in body["data"]] == [(5, 12.0)]
    assert body["unit"] == "kWh"


def test_telemetry_says_when_it_was_cut_short(client: TestClient) -> None:
    body = client.get(TELEMETRY, params={"metric": "temperature_c", "limit": 2}).json()

    assert [r["seq"] for r in body["data"]] == [2, 3]
    assert body["count"] == 2
    assert body["truncated"] is True


TEMP = {"metric": "temperature_c"}


@pytest.mark.parametrize(
    ("params", "field", "hint"),
    [
        ({}, "query.metric", "Field required"),
        ({"metric": "humidity"}, "query.metric", "temperature_c"),
        (TEMP | {"since": "2024-05-01T08:00:00"}, "query.since", "add +08:00 (China time) or Z"),
        (TEMP | {"until": "2024-05-01T08:00:00 08:00"}, "query.until", "%2B"),
        (
            TEMP | {"since": "2024-05-02T00:00Z", "until": "2024-05-01T00:00Z"},
            "query.until",
            "after",
        ),
        (TEMP | {"since": "2024-03-01T00:00:00Z"}, "query.since", "more than the 31 allowed"),
        (TEMP | {"limit": 0}, "query.limit", "greater than or equal to 1"),
    ],
)
def test_bad_telemetry_query_is_422(
    client: TestClient, params: dict[str, str], field: str, hint: str
) -> None:
    error = assert_error(client.get(TELEMETRY, params=params), 422, "invalid_request")

    assert [d["field"] for d in error["details"]] == [field]
    assert hint in error["details"][0]["message"]
    assert hint in error["message"]


def test_unknown_metric_lists_the_known_ones(client: TestClient) -> None:
    error = assert_error(client.get(TELEMETRY, params={"metric": "x"}), 422, "invalid_request")

    assert error["details"][0]["allowed"] == sorted(METRICS)


def test_telemetry_of_unknown_venue_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/venues/nope/telemetry", params={"metric": "temperature_c"})

    assert_error(response, 404, "venue_not_found")


# --- auth ------------------------------------------------------------------------------


@pytest.fixture
def guarded_client(engine: Engine) -> Iterator[TestClient]:
    seed(engine)
    settings = dev_settings(api_token=SecretStr(TOKEN))
    with TestClient(create_app(settings=settings, engine=engine)) as client:
        yield client


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}"])
def test_api_without_the_token_is_401(guarded_client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}

    response = guarded_client.get("/api/v1/venues", headers=headers)

    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_api_with_the_token_answers(guarded_client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}

    assert guarded_client.get("/api/v1/venues/v1", headers=headers).status_code == 200


def test_healthz_needs_no_token(guarded_client: TestClient) -> None:
    assert guarded_client.get("/healthz").status_code == 200


def test_production_without_a_jwt_secret_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="YZ_CLOUD_AUTH__JWT_SECRET"):
        CloudSettings(mode="production", api_token=SecretStr(TOKEN))
    engine = create_engine("sqlite://")
    try:
        with pytest.raises(InsecureSettingsError, match="YZ_CLOUD_AUTH__JWT_SECRET"):
            create_app(settings=CloudSettings.model_construct(mode="production"), engine=engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("token", ["short", "changeme" * 5, "a" * 40, "my-secret-" * 4])
def test_production_refuses_a_weak_token(token: str) -> None:
    with pytest.raises(ValidationError, match="YZ_CLOUD_API_TOKEN"):
        CloudSettings(mode="production", api_token=SecretStr(token), auth=strong_auth())


def test_production_accepts_a_strong_token() -> None:
    engine = create_engine("sqlite://")
    try:
        settings = CloudSettings(
            mode="production",
            api_token=SecretStr(TOKEN),
            auth=strong_auth(),
            broker=strong_broker(),
        )
        assert create_app(settings=settings, engine=engine).title == "yizhan cloud"
    finally:
        engine.dispose()


# --- the error shape everywhere ---------------------------------------------------------


def test_unexpected_error_is_500_in_the_error_shape() -> None:
    engine = create_engine("sqlite://")
    app = create_app(settings=dev_settings(), engine=engine)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("bug")

    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            error = assert_error(client.get("/api/v1/boom"), 500, "internal_error")
    finally:
        engine.dispose()
    assert "bug" not in error["message"]


def test_error_bodies_are_the_wire_model_the_kiosk_parses(client: TestClient) -> None:
    assert errors.ErrorResponse is kiosk.ErrorResponse  # one definition, in protocol/
    body = kiosk.ErrorResponse.model_validate_json(client.get("/api/v1/nowhere").content)
    assert body.error.code == "not_found"
    assert "ErrorResponse" in client.get("/openapi.json").json()["components"]["schemas"]


def test_openapi_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert {"/healthz", "/api/v1/venues", "/api/v1/venues/{venue_id}/telemetry"} <= set(paths)
