"""The venue settings page: what it shows each role, and every section's round trip through
the API the page's script calls (capacity, hours, a fridge threshold, a probe's role, a door
policy), with refusals named per field in zh-CN and English."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.aggregates.models import VenueSettings
from cloud.aggregates.occupancy import set_venue_settings
from cloud.alerts.models import AlertRule, SensorRole
from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.devices.models import Device, DeviceDesiredConfig
from cloud.models import Reading, Venue
from cloud.service import open_database
from cloud.settings import CloudSettings
from cloud.web.pages.venue_settings import TEXT
from protocol.door_policy import DoorPolicyConfig
from tests.cloud.web.helpers import PASSWORD, csrf_of, sign_in

NOW = datetime(2025, 6, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
FRIDGE = "28-0000000000aa"
AMBIENT = "28-0000000000bb"


@pytest.fixture
def engine(tmp_path: Path, _sqlite_template: Path) -> Iterator[Engine]:
    # A copy of the session's migrated database: opening it has nothing left to migrate.
    shutil.copyfile(_sqlite_template, tmp_path / "cloud.db")
    made = open_database(CloudSettings(data_dir=tmp_path))
    with Session(made) as session:
        session.add(Venue(id="v1", name="徐汇驿站", kind="outdoor-station"))
        session.add(Venue(id="v2", name="浦东之家", kind="worker-home"))
        session.commit()
        session.add_all(
            [
                Device(id="hub1", venue_id="v1", role="sensor-hub"),
                Device(id="door1", venue_id="v1", role="door"),
                Device(id="door2", venue_id="v2", role="door"),
            ]
        )
        session.commit()
        session.add_all(
            Reading(
                device_id="hub1",
                seq=seq,
                venue_id="v1",
                metric="temperature_c",
                sensor=sensor,
                ts=NOW - timedelta(minutes=minutes),
                value=value,
            )
            for seq, (sensor, minutes, value) in enumerate(
                [(FRIDGE, 30, 5.0), (FRIDGE, 5, 6.5), (AMBIENT, 5, 31.0)], start=1
            )
        )
        session.add(
            DeviceDesiredConfig(
                device_id="door1",
                version=1,
                settings={"sample_interval_s": 30, "door": {"pulse_s": 4}},
                issued_at=NOW,
                issued_by="tom",
            )
        )
        session.commit()
    set_venue_settings(made, "v1", now=NOW, capacity=30)
    yield made
    made.dispose()


@pytest.fixture
def client(tmp_path: Path, engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine, clock=lambda: NOW)
    with TestClient(app) as made:
        yield made


# Who signs in: made when first needed (a password hash is slow on purpose).
USERS: dict[str, tuple[Role, list[str]]] = {
    "root": (Role.ADMIN, []),
    "boss": (Role.MANAGER, ["v1"]),
    "other": (Role.MANAGER, ["v2"]),
    "tech": (Role.TECHNICIAN, []),
    "mem": (Role.MEMBER, []),
}


def login(client: TestClient, who: str) -> None:
    role, venues = USERS[who]
    member = "M-1" if role is Role.MEMBER else None
    user = UserCreate(
        username=who, password=PASSWORD, role=role, venue_ids=venues, member_id=member
    )
    engine = client.app.state.api.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        create_user(session=session, user_in=user)
    sign_in(client, who)


class Browser:
    """What settings.js does: read the page's token, call the API with the cookie."""

    def __init__(
        self, client: TestClient, who: str, *, lang: str = "zh-CN", venue: str = "v1"
    ) -> None:
        self.client = client
        client.cookies.set("yz_lang", "en" if lang == "en" else "zh-CN")
        login(client, who)
        self.html = self.open(venue)
        self.csrf = csrf_of(self.html)

    def open(self, venue: str = "v1", status: int = 200) -> str:
        answer = self.client.get(f"/venues/{venue}/settings")
        assert answer.status_code == status, answer.text
        text: str = answer.text
        return text

    def call(self, method: str, url: str, body: Any = None) -> Any:
        return self.client.request(method, url, json=body, headers={"X-CSRF-Token": self.csrf})


def sentence(key: str, lang: str = "zh-CN") -> str:
    return TEXT[key][0 if lang == "zh-CN" else 1]


def test_a_manager_changes_capacity_hours_a_threshold_and_a_probe(
    client: TestClient, engine: Engine
) -> None:
    boss = Browser(client, "boss")
    assert 'value="30"' in boss.html  # capacity now
    assert FRIDGE in boss.html
    assert "6.5" in boss.html

    assert boss.call("PUT", "/api/v1/venues/v1/occupancy/settings", {"capacity": 45}).is_success
    hours = boss.call("PATCH", "/api/v1/venues/v1", {"hours": ["mon-fri 07:00-22:00"]})
    assert hours.status_code == 200, hours.text
    rule = {"threshold": 6.0, "duration_s": 900, "enabled": True}
    assert boss.call("PUT", "/api/v1/venues/v1/alert-rules/fridge_warm", rule).is_success
    probe = f"/api/v1/venues/v1/sensor-roles/hub1/{FRIDGE}"
    assert boss.call("PUT", probe, {"role": "fridge", "label": "饮料冰箱"}).is_success

    again = boss.open()
    assert 'value="45"' in again
    assert "mon-fri 07:00-22:00" in again
    fridge_form = again[again.index('data-rule-kind="fridge_warm"') :]
    assert 'value="6"' in fridge_form[:3000]
    assert 'value="15"' in fridge_form[:3000]
    assert "饮料冰箱" in again
    with Session(engine) as session:
        assert session.get(VenueSettings, "v1").capacity == 45  # type: ignore[union-attr]
        role = session.get(SensorRole, ("hub1", FRIDGE))
        assert role is not None
        assert (role.role, role.label) == ("fridge", "饮料冰箱")

    assert boss.call("DELETE", "/api/v1/venues/v1/alert-rules/fridge_warm").status_code == 204
    assert boss.call("DELETE", probe).status_code == 204
    with Session(engine) as session:
        assert session.get(SensorRole, ("hub1", FRIDGE)) is None
        kinds = session.exec(select(AlertRule.kind).where(AlertRule.venue_id == "v1")).all()
        assert kinds == []


def test_a_manager_may_not_rename_the_venue(client: TestClient) -> None:
    boss = Browser(client, "boss")
    refused = boss.call("PATCH", "/api/v1/venues/v1", {"name": "别的名字", "hours": []})

    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "venue_field_admin_only"
    assert "name" in refused.json()["error"]["message"]
    assert 'data-reason="venue_field_admin_only"' in boss.html


def test_the_door_policy_form_has_every_field_of_the_shared_model(client: TestClient) -> None:
    html = Browser(client, "boss").html
    form = html[html.index('data-door="door1"') :]
    for name in DoorPolicyConfig.model_fields:
        assert f'data-field="{name}"' in form, name
        assert f"settings.policy.{name}" in TEXT
    assert "settings.policy." not in html  # every label has its words


def test_a_door_policy_is_checked_then_pushed_keeping_the_other_settings(
    client: TestClient, engine: Engine
) -> None:
    boss = Browser(client, "boss")
    policy = {"door_id": "main", "hours": ["mon-fri 07:00-22:00"], "capacity": 20}
    settings = {"sample_interval_s": 30, "door": {"pulse_s": 4, "policy": policy}}

    checked = boss.call("POST", "/api/v1/devices/door1/config/check", {"settings": settings})
    pushed = boss.call("PUT", "/api/v1/devices/door1/config", {"settings": settings})
    sneaky = {**settings, "sample_interval_s": 5}
    refused = boss.call("PUT", "/api/v1/devices/door1/config", {"settings": sneaky})

    assert checked.status_code == 200, checked.text
    assert pushed.status_code == 201, pushed.text
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "config_manager_policy_only"
    with Session(engine) as session:
        newest = session.exec(
            select(DeviceDesiredConfig).where(DeviceDesiredConfig.version == 2)
        ).one()
    assert newest.settings["door"]["policy"]["capacity"] == 20
    assert newest.settings["sample_interval_s"] == 30
    assert "mon-fri 07:00-22:00" in boss.open()  # the form shows the pushed policy


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_bad_policy_is_refused_per_field_in_the_users_language(
    client: TestClient, lang: str
) -> None:
    boss = Browser(client, "boss", lang=lang)
    policy = {"door_id": "main", "hours": ["mon-fri 25:00-22:00"], "passback_s": -1}

    answer = boss.call(
        "POST", "/api/v1/devices/door1/config/check", {"settings": {"door": {"policy": policy}}}
    )

    assert answer.status_code == 422
    details = {d["key"]: d for d in answer.json()["error"]["details"]}
    assert details["door.policy.hours[0]"]["code"] == "invalid_value"
    assert details["door.policy.passback_s"]["code"] == "value_too_small"
    assert details["door.policy.passback_s"]["params"] == {"limit": 0}
    # The page carries the sentence for each code in the user's language, for settings.js.
    for code in ("invalid_value", "value_too_small"):
        words = sentence(f"settings.code.{code}", lang)
        assert f'<li data-code="{code}">{words}</li>' in boss.html
    assert sentence("settings.fix_fields", lang) in boss.html


def test_out_of_range_capacity_is_refused_naming_the_field(client: TestClient) -> None:
    boss = Browser(client, "boss")
    answer = boss.call("PUT", "/api/v1/venues/v1/occupancy/settings", {"capacity": -3})
    bad_hours = boss.call("PATCH", "/api/v1/venues/v1", {"hours": ["someday 7-8"]})

    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "body.capacity"
    assert bad_hours.status_code == 422
    assert bad_hours.json()["error"]["details"][0]["field"] == "body.hours"


def test_a_technician_sees_only_probes_and_doors(client: TestClient) -> None:
    tech = Browser(client, "tech")

    assert "data-tech-note" in tech.html
    assert 'id="sensors-section"' in tech.html
    assert 'id="doors-section"' in tech.html
    assert 'id="rules-section"' not in tech.html
    assert 'id="venue-section"' not in tech.html
    probe = f"/api/v1/venues/v1/sensor-roles/hub1/{AMBIENT}"
    assert tech.call("PUT", probe, {"role": "ambient", "label": "室外"}).is_success


def test_other_venues_and_other_roles_are_kept_out(client: TestClient) -> None:
    other = Browser(client, "other", lang="en", venue="v2")
    other.open("v1", status=404)
    assert "door1" not in other.client.get("/venues/v1/settings").text
    assert (
        other.call("PUT", "/api/v1/venues/v1/occupancy/settings", {"capacity": 1}).status_code
        == 404
    )

    client.cookies.clear()
    login(client, "mem")
    refused = client.get("/venues/v1/settings")
    assert refused.status_code == 403
    assert re.search(r"<a [^>]*href=\"/[^\"]*\"", refused.text)  # a way back


def test_the_demo_marks_each_hubs_fridge_probe(tmp_path: Path) -> None:
    from firmware_sim.rig import Rig  # noqa: PLC0415 - the simulator only for this test
    from yizhan import demo  # noqa: PLC0415

    options = demo.DemoOptions(
        duration_s=1, venues=2, data_dir=tmp_path / "demo", http_port=1, speed=1
    )
    fleet = demo._fleet(options, mqtt_port=1)
    engine = open_database(CloudSettings(data_dir=tmp_path / "cloud"))
    try:
        demo._seed(engine, fleet, tmp_path / "issuer.json")
        with Session(engine) as session:
            roles = session.exec(select(SensorRole).order_by(col(SensorRole.device_id))).all()
    finally:
        engine.dispose()

    assert [(r.device_id, r.role, r.label) for r in roles] == [
        ("hub-01", "fridge", "饮料冰箱"),
        ("hub-02", "fridge", "饮料冰箱"),
    ]
    # The very probe the simulated hub reports its fridge's temperature under.
    clock = lambda: NOW  # noqa: E731
    with Rig("outdoor-station", seed=0, base_dir=tmp_path / "rig", clock=clock) as rig:
        assert roles[0].sensor == rig.fridge_sensor_id
