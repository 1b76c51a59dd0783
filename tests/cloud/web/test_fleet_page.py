"""The fleet page: devices and their state, waiting boxes, the claim and config forms."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.devices.models import (
    Device,
    DeviceCommand,
    DeviceDesiredConfig,
    DeviceDiagnostics,
    DeviceFault,
    DeviceHealth,
    PendingBox,
    PendingBoxCheck,
)
from cloud.models import Venue
from cloud.service import open_database
from cloud.settings import CloudSettings

NOW = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
PASSWORD = "pw-123456789-fleet"
DESIRED = {"sample_interval_s": 30, "kiosk": {"greeting": "欢迎光临"}}
SERIAL = "abcdefgh23"


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    text: str = ""


class Page(HTMLParser):
    """Every start tag of a page with its attributes; textareas keep their text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.elements and self.elements[-1].tag == "textarea":
            self.elements[-1].text += data

    def find(self, tag: str, **attrs: str | None) -> list[Element]:
        """Elements named ``tag`` with these attributes (``data_x`` for ``data-x``)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [
            e
            for e in self.elements
            if e.tag == tag and all(k in e.attrs and e.attrs[k] == v for k, v in wanted.items())
        ]

    def one(self, tag: str, **attrs: str | None) -> Element:
        (found,) = self.find(tag, **attrs)
        return found


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    return page


def _add_devices(session: Session) -> None:
    seen = NOW - timedelta(minutes=2)
    session.add_all(
        [
            Venue(id="v1", name="徐汇驿站", district="徐汇区"),
            Venue(id="v2", name="静安驿站", district="静安区"),
        ]
    )
    session.flush()
    session.add_all(
        [
            Device(
                id="v1-door-1",
                venue_id="v1",
                role="door",
                serial="qqqqqqqqq2",
                online=True,
                last_seen_at=seen,
            ),
            Device(id="v1-hub-1", venue_id="v1", role="sensor-hub", last_seen_at=seen),
            Device(id="v1-kiosk-1", venue_id="v1", role="kiosk", status="claimed"),
            Device(id="v2-door-1", venue_id="v2", role="door", online=True, last_seen_at=seen),
            Device(id="v2-hub-old", venue_id="v2", role="sensor-hub", status="decommissioned"),
        ]
    )
    session.flush()
    for version, settings in ((1, {"sample_interval_s": 60}), (2, DESIRED)):
        session.add(
            DeviceDesiredConfig(
                device_id="v1-door-1",
                version=version,
                settings=settings,
                issued_at=NOW,
                issued_by="tech",
            )
        )
    session.add(
        DeviceHealth(
            device_id="v1-door-1",
            seq=9,
            ts=seen,
            uptime_s=7200,
            outbox_depth=17,
            received_at=seen,
        )
    )
    session.add(
        PendingBox(serial=SERIAL, first_seen_at=NOW - timedelta(minutes=5), last_seen_at=NOW)
    )
    # What its hello noted besides: the check of its label (a box without one is only
    # awaited by a claim, and not listed).
    session.add(
        PendingBoxCheck(
            serial=SERIAL, check="ab12", first_seen_at=NOW - timedelta(minutes=5), last_seen_at=NOW
        )
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_database(CloudSettings(data_dir=tmp_path))
    with Session(engine) as session:
        _add_devices(session)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def client(tmp_path: Path, engine: Engine) -> Iterator[TestClient]:
    app = create_app(settings=CloudSettings(data_dir=tmp_path), engine=engine, clock=lambda: NOW)
    with TestClient(app) as client:
        yield client


# Each test makes only the account it signs in with: hashing a password is slow on purpose.
USERS: dict[str, tuple[Role, list[str]]] = {
    "tech": (Role.TECHNICIAN, []),
    "tech-v1": (Role.TECHNICIAN, ["v1"]),
    "boss": (Role.MANAGER, ["v1"]),
}


SignIn = Callable[[str], TestClient]


@pytest.fixture
def sign_in(client: TestClient, engine: Engine) -> SignIn:
    def as_user(username: str) -> TestClient:
        role, venues = USERS[username]
        user = UserCreate(username=username, password=PASSWORD, role=role, venue_ids=venues)
        with Session(engine) as session:
            create_user(session=session, user_in=user)
        form = {"username": username, "password": PASSWORD, "next": "/fleet"}
        response = client.post("/login", data=form, follow_redirects=False)
        assert response.status_code == 303, response.text
        return client

    return as_user


def fleet(client: TestClient, query: str = "") -> Page:
    response = client.get(f"/fleet{query}")
    assert response.status_code == 200, response.text
    return parse(response.text)


def device_ids(page: Page) -> list[str]:
    return [str(e.attrs["data-device"]) for e in page.find("tr") if "data-device" in e.attrs]


def test_technician_sees_every_active_device_with_its_state(sign_in: SignIn) -> None:
    client = sign_in("tech")
    page = fleet(client)
    assert device_ids(page) == ["v1-door-1", "v1-hub-1", "v1-kiosk-1", "v2-door-1"]
    assert page.one("tr", data_device="v1-door-1").attrs["data-device-online"] == "true"
    assert page.one("tr", data_device="v1-hub-1").attrs["data-device-online"] == "false"
    assert page.one("tr", data_device="v1-kiosk-1").attrs["data-device-state"] == "claimed"
    assert page.one("main").attrs["data-live"] == "devices health pending updates"
    # The desired v2 is not applied: the config cell warns.
    assert page.one("td", data_config_state="pending")


def test_actions_match_what_each_device_can_take(sign_in: SignIn) -> None:
    client = sign_in("tech")
    page = fleet(client)
    unlock = page.find("button", data_action="unlock")
    assert [b.attrs["data-api"] for b in unlock] == [
        "/api/v1/devices/v1-door-1/commands/unlock",
        "/api/v1/devices/v2-door-1/commands/unlock",
    ]
    assert all(b.attrs["data-confirm"] for b in unlock)
    restarts = {b.attrs["data-api"] for b in page.find("button", data_action="restart")}
    # The claimed kiosk was never online: the API would refuse it a command.
    assert "/api/v1/devices/v1-kiosk-1/commands/restart" not in restarts
    decommission = page.one(
        "button", data_action="decommission", data_api="/api/v1/devices/v1-kiosk-1/decommission"
    )
    assert "v1-kiosk-1" in str(decommission.attrs["data-confirm"])


def test_scoped_technician_sees_only_their_venues(sign_in: SignIn) -> None:
    client = sign_in("tech-v1")
    page = fleet(client)
    assert device_ids(page) == ["v1-door-1", "v1-hub-1", "v1-kiosk-1"]
    assert [o.attrs["value"] for o in page.find("option") if o.attrs.get("value") == "v2"] == []


def test_manager_gets_the_not_for_your_role_page(sign_in: SignIn) -> None:
    client = sign_in("boss")
    response = client.get("/fleet")
    assert response.status_code == 403
    assert "您的角色无权查看此页面" in response.text
    assert "data-device=" not in response.text


def test_filters_by_state_venue_and_search(sign_in: SignIn) -> None:
    client = sign_in("tech")
    assert device_ids(fleet(client, "?state=decommissioned")) == ["v2-hub-old"]
    assert device_ids(fleet(client, "?state=online")) == ["v1-door-1", "v2-door-1"]
    assert device_ids(fleet(client, "?state=offline&venue=v1")) == ["v1-hub-1", "v1-kiosk-1"]
    assert device_ids(fleet(client, "?q=QQQQ")) == ["v1-door-1"]  # the serial, as on the label
    assert device_ids(fleet(client, "?q=hub")) == ["v1-hub-1"]
    decommissioned = fleet(client, "?state=decommissioned")
    assert decommissioned.find("button", data_action="restart") == []
    assert decommissioned.find("form", data_config_form="v2-hub-old") == []


def test_a_box_waiting_to_be_claimed_is_listed(sign_in: SignIn) -> None:
    client = sign_in("tech")
    page = fleet(client)
    assert page.one("tr", data_pending=SERIAL)
    assert page.one("a", data_claim_serial=SERIAL).attrs["href"] == "#claim-form"


def test_the_claim_form_posts_to_the_claim_api(sign_in: SignIn) -> None:
    client = sign_in("tech")
    page = fleet(client)
    form = page.one("form", id="claim-form")
    assert form.attrs["data-api-form"] == "/api/v1/devices/claim"
    assert form.attrs["data-method"] == "POST"
    assert "{id}" in str(form.attrs["data-done"])
    code = page.one("input", id="claim-code")
    assert code.attrs["name"] == "code"
    assert str(code.attrs["placeholder"]).startswith("YZC1-")
    assert "data-optional" in page.one("input", name="device_id").attrs
    assert [o.attrs["value"] for o in page.elements if o.tag == "option"][:2] == ["v1", "v2"]
    # Shown by scan.js only where the browser can read a QR code from a camera.
    scan = page.one("button", data_scan_label=None)
    assert "hidden" in scan.attrs
    roles = {e.attrs["value"] for e in page.find("option") if e.attrs["value"] in ("door", "kiosk")}
    assert roles == {"door", "kiosk"}
    assert page.one("option", value="sensor-hub")


def test_config_form_offers_the_keys_of_the_role_and_keeps_the_desired_settings(
    sign_in: SignIn,
) -> None:
    client = sign_in("tech")
    page = fleet(client)
    form = page.one("form", data_config_form="v1-door-1")
    assert form.attrs["data-api"] == "/api/v1/devices/v1-door-1/config"
    assert form.attrs["data-check"] == "/api/v1/devices/v1-door-1/config/check"
    assert form.attrs["data-method"] == "PUT"
    assert form.attrs["data-role"] == "door"
    # The newest version, kept whole: the form changes only the keys it lists.
    assert json.loads(form.attrs["data-settings-json"] or "") == DESIRED
    # One list of keys per role on the page, copied into the form a person opens.
    (door,) = page.find("template", data_push_keys="door")
    start = page.elements.index(door)
    end = next(
        i for i, e in enumerate(page.elements[start + 1 :], start + 1) if e.tag == "template"
    )
    inside = page.elements[start:end]
    interval = next(e for e in inside if e.attrs.get("data-key") == "sample_interval_s")
    assert (interval.attrs["min"], interval.attrs["max"]) == ("0.05", "3600")
    assert interval.attrs["placeholder"] == "60"  # the box's default
    door_keys = {e.attrs.get("data-key") for e in inside}
    assert "door.pulse_s" in door_keys
    assert "kiosk.session_s" not in door_keys  # a door takes no kiosk settings
    hub = page.one("form", data_config_form="v1-hub-1")
    assert json.loads(hub.attrs["data-settings-json"] or "") == {}
    assert page.find("template", data_push_keys="sensor-hub")


def test_chinese_by_default_and_english_with_the_cookie(sign_in: SignIn) -> None:
    client = sign_in("tech")
    chinese = client.get("/fleet").text
    assert "认领新设备" in chinese
    assert "Claim a new box" not in chinese
    client.cookies.set("yz_lang", "en")
    english = client.get("/fleet").text
    assert "Claim a new box" in english
    assert "认领新设备" not in english


def test_cookie_api_calls_need_the_pages_csrf_token(sign_in: SignIn, engine: Engine) -> None:
    client = sign_in("tech")
    url = "/api/v1/devices/v1-door-1/commands/restart"
    refused = client.post(url)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    token = fleet(client).one("meta", name="csrf-token").attrs["content"]
    assert token
    accepted = client.post(url, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 202, accepted.text
    with Session(engine) as session:
        (command,) = session.exec(select(DeviceCommand)).all()
    assert (command.device_id, command.name, command.status) == ("v1-door-1", "restart", "pending")


def test_a_refused_config_says_why_in_the_message_the_form_shows(sign_in: SignIn) -> None:
    client = sign_in("tech")
    token = str(fleet(client).one("meta", name="csrf-token").attrs["content"])
    response = client.put(
        "/api/v1/devices/v1-door-1/config",
        json={"settings": {"mqtt_host": "evil.example"}},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 422
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "config_invalid"
    assert "mqtt_host" in error["message"]  # app.js puts this message in [data-result]


def test_the_newest_diagnostics_report_reads_as_a_page(sign_in: SignIn, engine: Engine) -> None:
    report = {
        "heartbeat": {"software": "1.4.2", "uptime_s": 93_600, "disk_free_mb": 78_232,
                      "outbox_depth": 17, "config_version": 3},
        "versions": {"yizhan": "1.4.2", "python": "3.11.9"},
        "logs": ["12:00 INFO started", "12:01 WARNING broker slow", "12:02 ERROR sync failed"],
    }  # fmt: skip
    with Session(engine) as session:
        session.add(
            DeviceDiagnostics(
                device_id="v1-door-1", command_id="c-1", ts=NOW, report=report, received_at=NOW
            )
        )
        session.commit()
    client = sign_in("tech")

    (link,) = [  # no new tab, no raw JSON
        a
        for a in fleet(client).find("a")
        if "v1-door-1" in (a.attrs.get("href") or "") and "data-diagnostics-report" in a.attrs
    ]
    text = client.get("/fleet/devices/v1-door-1/diagnostics").text
    client.cookies.set("yz_lang", "en")
    english = client.get("/fleet/devices/v1-door-1/diagnostics").text
    nothing = client.get("/fleet/devices/v1-hub-1/diagnostics").text

    assert link.attrs["href"] == "/fleet/devices/v1-door-1/diagnostics"
    assert "target" not in link.attrs
    assert "1.4.2" in text
    assert "76.4 GB" in text  # 78232 MB, in the unit a person reads
    assert 'data-fact="outbox">17<' in text
    errors = text[text.index("data-last-errors") :]
    assert errors.index("sync failed") < errors.index("broker slow")  # the newest first
    assert "INFO started" not in errors[: errors.index("</ol>")]
    assert '<details class="raw"' in text
    assert "Last errors" in english
    assert "data-no-report" in nothing
    assert sign_in("boss").get("/fleet/devices/v1-door-1/diagnostics").status_code == 403


def test_a_part_that_does_not_work_is_named_on_its_devices_row(
    sign_in: SignIn, engine: Engine
) -> None:
    """A door's dead screen (sensor.fault) is on the fleet page where its state is; a part
    that works again (sensor.recovered) is not."""
    with Session(engine) as session:
        for part, problem in (
            ("door-screen", "door screen did not take a frame"),
            ("door-speaker", None),
        ):
            session.add(
                DeviceFault(
                    device_id="v1-door-1",
                    sensor=part,
                    problem=problem,
                    seq=3,
                    ts=NOW,
                    received_at=NOW,
                )
            )
        session.commit()
    client = sign_in("tech")
    assert _faults(client.get("/fleet").text) == [
        ("v1-door-1", "door-screen", "door screen did not take a frame", "故障：门口屏幕")
    ]
    # Its words too, not only in a title a phone cannot hover over.
    shown = '<small class="muted who" data-fault-problem="door-screen">door screen did not'
    assert shown in client.get("/fleet").text
    client.cookies.set("yz_lang", "en")
    assert [said for *_, said in _faults(client.get("/fleet").text)] == ["Fault: door screen"]


def _faults(html: str) -> list[tuple[str, str, str, str]]:
    """(device, part, problem, what the row says) for each fault on the page."""
    found = []
    for device, body in re.findall(r'<tr data-device="([^"]+)"(.*?)</tr>', html, flags=re.DOTALL):
        for part, problem, said in re.findall(
            r'<span class="error who" data-fault="([^"]+)" title="([^"]*)">([^<]*)</span>', body
        ):
            found.append((device, part, problem, said))
    return found
