"""Security review: what a pushed config may carry, and who may push it."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from cloud.devices.models import Device
from protocol.device_config import check_config
from tests.cloud.notify.conftest import Site

RAW = {"Content-Type": "application/json"}


def _door(site: Site, device_id: str = "door-1", venue: str = "v1") -> str:
    with Session(site.engine) as session:
        session.add(Device(id=device_id, venue_id=venue, role="door", status="active"))
        session.commit()
    return f"/devices/{device_id}/config"


@pytest.mark.parametrize(
    "settings",
    [
        {"sample_interval_s": -5},
        {"no_such_key": 1},
        {"mqtt_ca_file": "/tmp/evil.pem"},
        {"mqtt_host": "evil.example"},
        {"door": {"api_token": "x"}},
        {"door": {"sync_url": "http://evil.example"}},
        {"kiosk": {"dispense_timeout_s": 5}},
    ],
)
def test_the_server_refuses_what_the_box_must_not_take(
    site: Site, settings: dict[str, object]
) -> None:
    path = _door(site)

    answer = site.call("tom", "PUT", path, json={"settings": settings})

    assert answer.status_code == 422, answer.text
    assert site.call("tom", "GET", path).json().get("settings") in (None, {})


def test_the_stale_cache_limit_cannot_be_pushed_to_infinity(site: Site) -> None:
    path = _door(site)
    body = '{"settings": {"door": {"access": {"max_offline_age_s": Infinity}}}}'

    answer = site.client.put(f"/api/v1{path}", content=body, headers={**RAW, **site.headers("tom")})

    assert answer.status_code == 422, answer.text


def test_a_manager_pushes_only_a_door_policy_and_only_at_their_venue(site: Site) -> None:
    mine, theirs = _door(site), _door(site, "door-2", "v2")

    timing = site.call("mia", "PUT", mine, json={"settings": {"door": {"pulse_s": 30}}})
    other = site.call("mia", "PUT", theirs, json={"settings": {"door": {"policy": {}}}})
    checked = site.call("mia", "POST", f"{theirs}/check", json={"settings": {}})

    assert timing.status_code == 403
    assert timing.json()["error"]["code"] == "config_manager_policy_only"
    assert other.status_code == 404
    assert checked.status_code == 404


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"kiosk": {"timezone": "Mars/Olympus"}}, "timezone"),
        ({"door": {"scanner": {"source": "/etc/shadow"}}}, "source"),
        ({"door": {"scanner": {"source": "http://10.0.0.9/cam"}}}, "source"),
        ({"door": {"access": {"max_offline_age_s": 400 * 86_400}}}, "max_offline_age_s"),
    ],
)
def test_a_pushed_zone_camera_or_stale_limit_must_be_one_a_box_can_use(
    settings: dict[str, object], key: str
) -> None:
    problems = check_config(settings)
    assert any(key in str(problem) for problem in problems), problems
