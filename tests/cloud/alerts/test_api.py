"""The alerts API: scoped listing, ack/resolve with who and when, illegal transitions, rules."""

import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from starlette.exceptions import StarletteDeprecationWarning

from cloud.alerts.engine import evaluate
from cloud.api.app import create_app
from cloud.api.auth_deps import current_principal
from cloud.auth.principal import Principal, Role
from cloud.devices.models import Device
from cloud.settings import CloudSettings
from tests.cloud.alerts.factories import (
    NOW,
    add,
    alerts,
    deliveries,
    event,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

ADMIN = Principal("ada", Role.ADMIN)
MANAGER_V1 = Principal("mia", Role.MANAGER, frozenset({"v1"}))
MANAGER_V2 = Principal("max", Role.MANAGER, frozenset({"v2"}))
TECHNICIAN = Principal("tom", Role.TECHNICIAN)
MEMBER = Principal("mel", Role.MEMBER, member_id="M-1")
LATER = NOW + timedelta(minutes=5)


class Api:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.as_ = ADMIN

    def __call__(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.client.app.dependency_overrides[current_principal] = lambda: self.as_  # type: ignore[attr-defined]
        response: httpx.Response = self.client.request(method, f"/api/v1{url}", **kwargs)
        return response


@pytest.fixture
def api(engine: Engine) -> Iterator[Api]:
    # One forced-door alert at v1 and one offline device at v2.
    add(engine, event(NOW - timedelta(minutes=1), "door.forced"))
    add(
        engine,
        Device(id="hub-9", venue_id="v2", online=False, last_seen_at=NOW - timedelta(hours=1)),
    )
    evaluate(engine, NOW)
    app = create_app(settings=CloudSettings(mode="development"), engine=engine, clock=lambda: LATER)
    with TestClient(app) as client:
        yield Api(client)


def _ids(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.text
    return [(a["venue_id"], a["kind"]) for a in response.json()["data"]]


def _error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == code
    return error


def test_admin_lists_everything_and_filters(api: Api) -> None:
    assert sorted(_ids(api("GET", "/alerts"))) == [("v1", "door_forced"), ("v2", "device_offline")]
    assert _ids(api("GET", "/alerts", params={"kind": "door_forced"})) == [("v1", "door_forced")]
    assert _ids(api("GET", "/alerts", params={"venue": "v2", "status": "open"})) == [
        ("v2", "device_offline")
    ]
    assert (
        _ids(api("GET", "/alerts", params={"since": (NOW + timedelta(hours=1)).isoformat()})) == []
    )
    page = api("GET", "/alerts", params={"limit": 1, "offset": 1}).json()
    assert page["count"] == 2
    assert len(page["data"]) == 1


def test_a_manager_sees_only_their_venues(api: Api) -> None:
    api.as_ = MANAGER_V1
    assert _ids(api("GET", "/alerts")) == [("v1", "door_forced")]
    assert _ids(api("GET", "/alerts", params={"venue": "v2"})) == []


def test_a_member_sees_no_alerts(api: Api) -> None:
    api.as_ = MEMBER
    _error(api("GET", "/alerts"), 403, "forbidden")


def test_ack_then_resolve_records_who_and_when(api: Api, engine: Engine) -> None:
    [alert] = alerts(engine, kind="door_forced")
    api.as_ = MANAGER_V1

    acked = api("POST", f"/alerts/{alert.id}/ack").json()
    assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", "mia")
    assert acked["acknowledged_at"].startswith(LATER.isoformat()[:19])

    resolved = api("POST", f"/alerts/{alert.id}/resolve").json()
    assert (resolved["status"], resolved["resolved_by"], resolved["auto_resolved"]) == (
        "resolved",
        "mia",
        False,
    )
    events = [d.event for d in deliveries(engine) if d.alert_id == alert.id]
    assert events == ["opened", "acknowledged", "resolved"]


def test_illegal_transitions_are_409(api: Api, engine: Engine) -> None:
    [alert] = alerts(engine, kind="door_forced")
    api("POST", f"/alerts/{alert.id}/ack")

    error = _error(api("POST", f"/alerts/{alert.id}/ack"), 409, "illegal_transition")
    assert "acknowledged" in error["message"]
    api("POST", f"/alerts/{alert.id}/resolve")
    _error(api("POST", f"/alerts/{alert.id}/resolve"), 409, "illegal_transition")
    _error(api("POST", f"/alerts/{alert.id}/ack"), 409, "illegal_transition")


def test_another_managers_alert_is_not_found(api: Api, engine: Engine) -> None:
    [alert] = alerts(engine, kind="door_forced")
    api.as_ = MANAGER_V2

    _error(api("POST", f"/alerts/{alert.id}/ack"), 404, "alert_not_found")
    _error(api("POST", "/alerts/999999/resolve"), 404, "alert_not_found")
    assert alerts(engine, kind="door_forced")[0].status == "open"


def test_technician_reads_rules_but_cannot_change_them(api: Api) -> None:
    api.as_ = TECHNICIAN
    rules = api("GET", "/alert-rules").json()
    assert {r["kind"] for r in rules["data"]} >= {"fridge_warm", "heat", "door_forced"}
    body = {"threshold": 6.0, "duration_s": 300}
    _error(api("PUT", "/venues/v1/alert-rules/fridge_warm", json=body), 403, "forbidden")


def test_manager_overrides_a_rule_for_their_venue_only(api: Api) -> None:
    api.as_ = MANAGER_V1
    body = {"threshold": 6.0, "duration_s": 300}

    put = api("PUT", "/venues/v1/alert-rules/fridge_warm", json=body)
    assert put.status_code == 200, put.text
    assert (put.json()["venue_id"], put.json()["updated_by"]) == ("v1", "mia")
    in_force = {
        r["kind"]: r for r in api("GET", "/alert-rules", params={"venue": "v1"}).json()["data"]
    }
    assert in_force["fridge_warm"]["threshold"] == 6.0
    assert in_force["heat"]["venue_id"] is None

    _error(api("PUT", "/venues/v2/alert-rules/fridge_warm", json=body), 404, "venue_not_found")
    default_id = in_force["heat"]["id"]
    _error(api("PUT", f"/alert-rules/{default_id}", json=body), 403, "forbidden")
    _error(
        api("PUT", "/venues/v1/alert-rules/heat", json={"duration_s": 60}), 422, "invalid_request"
    )

    assert api("DELETE", "/venues/v1/alert-rules/fridge_warm").status_code == 204
    in_force = {
        r["kind"]: r for r in api("GET", "/alert-rules", params={"venue": "v1"}).json()["data"]
    }
    assert in_force["fridge_warm"]["venue_id"] is None


def test_admin_changes_a_district_default(api: Api) -> None:
    defaults = api("GET", "/alert-rules").json()["data"]
    heat = next(r for r in defaults if r["kind"] == "heat" and r["venue_id"] is None)
    body = {"threshold": 33.0, "duration_s": 600, "season_start_month": 5, "season_end_month": 10}

    put = api("PUT", f"/alert-rules/{heat['id']}", json=body)

    assert put.status_code == 200, put.text
    assert (
        put.json()["threshold"],
        put.json()["season_start_month"],
        put.json()["updated_by"],
    ) == (
        33.0,
        5,
        "ada",
    )


def test_sensor_roles_say_which_probe_is_the_fridge(api: Api) -> None:
    api.as_ = TECHNICIAN
    put = api(
        "PUT",
        "/venues/v1/sensor-roles/hub-1/28-0000aaaa",
        json={"role": "fridge", "label": "饮料柜"},
    )
    assert put.status_code == 200, put.text
    roles = api("GET", "/venues/v1/sensor-roles").json()["data"]
    assert ("28-0000aaaa", "fridge", "tom") in {
        (r["sensor"], r["role"], r["updated_by"]) for r in roles
    }
    _error(
        api("PUT", "/venues/v1/sensor-roles/hub-2/28-x", json={"role": "fridge"}),
        404,
        "device_not_found",
    )
