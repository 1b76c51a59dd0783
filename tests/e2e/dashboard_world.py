"""The dashboard's world: the secure fleet, people who sign in, and a door members walk through.

Built on ``yizhan.bench.provision_world.secure_cloud`` (Mosquitto with dynamic security and
TLS, the API served by uvicorn on a loopback port, ingest). On top: staff and a member with
passwords, a venue capacity, the issuer's public key and a claimed door box — the real
runner and agent on firmware_sim pins, with a virtual camera the test holds codes up to.
The cloud's scheduler stays off as in ``secure_cloud`` (its alert evaluator would resolve a
planted alert under a test's hands); the rollup job runs when a test asks (``roll_up``), and
the live figures are computed from raw rows anyway.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
from gpiozero.pins.mock import MockFactory
from sqlalchemy import func
from sqlmodel import Session, col, select

from cloud.access.issuer import load_or_create, public_keyset
from cloud.access.store import put_key, upsert_members
from cloud.aggregates.occupancy import set_venue_settings
from cloud.aggregates.rollups import RollupOptions, run_rollups
from cloud.aggregates.traffic import DECISION_EVENT
from cloud.alerts.models import Alert, AlertKind, AlertStatus, Severity
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.devices.models import Device
from cloud.jobs.settings import JobSettings
from cloud.models import DeviceEvent, Venue
from cloud.web.settings import WebSettings
from edge.access.reasons import Reason
from edge.agent import BoxHardware, EdgeAgent
from edge.door.runtime import DoorParts, DoorRuntime
from edge.runner import run_box
from edge.sampler import Sensors
from edge.settings import EdgeSettings
from firmware_sim.camera import VirtualCamera
from firmware_sim.door import SimDoor
from protocol.access import MemberEntry, MemberStatus
from protocol.membercode import IssuerKey, issue
from tests.helpers import wait_for
from yizhan.bench.provision_world import (
    DOOR_WIRING,
    Box,
    SecureCloud,
    new_box,
    secure_cloud,
    wait_pending,
)

VENUE: Final = "station-07"  # the manager's venue, with the door
OTHER_VENUE: Final = "home-03"  # a venue the manager must not see
CAPACITY: Final = 30
PASSWORD: Final = "dashboard-e2e-pw"  # every test person's; the login form needs 12+ chars
TECH: Final = "tech"
MANAGER: Final = "boss"
MEMBER_USER: Final = "wang"
MEMBER_ID: Final = "M00000042"
DOOR: Final = "station-07-door-1"
DEADLINE_S: Final = 90.0

_NAMES: Final = {
    VENUE: ("徐汇区户外劳动者驿站", "徐汇区", "outdoor-station"),
    OTHER_VENUE: ("闵行区职工之家", "闵行区", "worker-home"),
}


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DoorBox:
    """A door box run by the real runner, whose camera and agent the test can reach."""

    box: Box
    camera: VirtualCamera = field(default_factory=lambda: VirtualCamera(np.random.default_rng(7)))
    agents: list[EdgeAgent] = field(default_factory=list)  # one per round of the runner
    _sim_doors: list[SimDoor] = field(default_factory=list)

    def power_on(self) -> None:
        def run() -> None:
            self.box.outcome = run_box(
                self.box.config,
                overrides={},
                stop=self.box.stop,
                clock=utc_now,
                hardware_for=lambda _settings: self._hardware,
                software="yizhan dashboard e2e",
                build_agent=self._build_agent,
            )

        self.box.thread = threading.Thread(target=run, name="dashboard-door", daemon=True)
        self.box.thread.start()

    def _hardware(self, settings: EdgeSettings, resources: ExitStack) -> BoxHardware:
        if settings.door is None:
            raise ValueError("the door box came up without its [door] section")
        pins = MockFactory()
        resources.callback(pins.close)
        self._sim_doors.append(SimDoor(pins, settings.door.pins))  # the lock and contact
        return BoxHardware(Sensors(), DoorParts(frame_source=self.camera, pin_factory=pins))

    def _build_agent(self, settings: EdgeSettings, **kwargs: Any) -> EdgeAgent:
        agent = EdgeAgent(settings, **kwargs)
        self.agents.append(agent)
        return agent

    @property
    def runtime(self) -> DoorRuntime | None:
        return self.agents[-1].door if self.agents else None

    def ready(self) -> bool:
        """Claimed, running, and synced: it has the issuer key and a fresh member list."""
        door = self.runtime
        return door is not None and len(door.keys) > 0 and door.members.staleness(utc_now()) is None

    def accepted(self) -> int:
        door = self.runtime
        return 0 if door is None else door.controller.decisions.get(Reason.ACCEPTED, 0)

    def admit(self, code: str, *, timeout: float = DEADLINE_S) -> None:
        """Hold a phone with ``code`` up to the camera until the door lets its member in."""
        wait_for(self.ready, timeout=timeout, message="the door never synced its keys")
        before = self.accepted()
        self.camera.show(code)
        try:
            wait_for(
                lambda: self.accepted() > before,
                timeout=timeout,
                message="the door never accepted the code",
            )
        finally:
            self.camera.show(None)

    def power_off(self) -> None:
        self.box.power_off()


@dataclass
class DashboardWorld:
    cloud: SecureCloud
    door: DoorBox
    issuer: IssuerKey
    _boxes: Iterator[int] = field(default_factory=itertools.count)
    _alerts: Iterator[int] = field(default_factory=itertools.count)
    _members: Iterator[int] = field(default_factory=lambda: itertools.count(1000))

    @property
    def url(self) -> str:
        return self.cloud.api_url

    def member_code(self, member: str | None = None) -> str:
        """A fresh code signed by the union's issuer (a new member unless one is named).

        A new member each time keeps tests apart: the door's passback rule would refuse
        the same member twice within its window.
        """
        member = member or f"M{next(self._members):08d}"
        return issue(member, key=self.issuer, now=utc_now())

    def admit_member(self, member: str | None = None) -> None:
        """A member (a new one by default) walks in, and the cloud has stored the decision."""
        before = self._decisions_stored()
        self.door.admit(self.member_code(member))
        wait_for(
            lambda: self._decisions_stored() > before,
            timeout=DEADLINE_S,
            message="the door's decision never reached the cloud",
        )

    def _decisions_stored(self) -> int:
        query = (
            select(func.count())
            .select_from(DeviceEvent)
            .where(col(DeviceEvent.device_id) == DOOR, col(DeviceEvent.type) == DECISION_EVENT)
        )
        with Session(self.cloud.engine) as session:
            return int(session.exec(query).one())

    def roll_up(self) -> None:
        """What the every-minute job does, at once: hourly rollups and the stored occupancy."""
        options = RollupOptions.from_settings(JobSettings())
        run_rollups(self.cloud.engine, now=utc_now(), options=options)

    def open_alert(self) -> int:
        """An open fridge alert at the manager's venue, as the evaluator would store it."""
        n = next(self._alerts)
        key = f"{AlertKind.FRIDGE_WARM}:{VENUE}:{DOOR}:fridge-{n}"
        now = utc_now()
        alert = Alert(
            venue_id=VENUE,
            device_id=DOOR,
            sensor=f"fridge-{n}",
            kind=AlertKind.FRIDGE_WARM,
            severity=Severity.WARNING,
            status=AlertStatus.OPEN,
            dedupe_key=key,
            active_key=key,
            opened_at=now,
            last_seen_at=now,
            threshold=8.0,
            last_value=11.5,
            message_zh="冰箱温度 11.5°C，高于 8°C",
            message_en="Fridge at 11.5°C, above 8°C",
        )
        with Session(self.cloud.engine) as session:
            session.add(alert)
            session.commit()
            assert alert.id is not None
            return alert.id

    def alert(self, alert_id: int) -> Alert:
        with Session(self.cloud.engine) as session:
            found = session.get(Alert, alert_id)
            assert found is not None
            return found

    def device_of(self, serial: str) -> str | None:
        """The id the cloud gave the box with this serial, once it is claimed."""
        with Session(self.cloud.engine) as session:
            device = session.exec(select(Device).where(col(Device.serial) == serial)).first()
            return None if device is None else device.id

    @contextmanager
    def unclaimed_box(self) -> Iterator[Box]:
        """A new sensor hub, powered on and saying hello until the test is done with it."""
        box = new_box(self.cloud, f"hub-box-{next(self._boxes)}")
        box.power_on()
        try:
            wait_pending(self.cloud, box.code.serial, timeout=DEADLINE_S)
            yield box
        finally:
            box.power_off()


def _seed_people(cloud: SecureCloud) -> None:
    people = (
        UserCreate(username=TECH, password=PASSWORD, role=Role.TECHNICIAN),
        UserCreate(username=MANAGER, password=PASSWORD, role=Role.MANAGER, venue_ids=[VENUE]),
        UserCreate(username=MEMBER_USER, password=PASSWORD, role=Role.MEMBER, member_id=MEMBER_ID),
    )
    with Session(cloud.engine) as session:
        for venue_id, (name, district, kind) in _NAMES.items():
            venue = session.get(Venue, venue_id)
            assert venue is not None
            venue.name, venue.district, venue.kind = name, district, kind
            session.add(venue)
        session.commit()
        for person in people:
            create_user(session=session, user_in=person)
    set_venue_settings(cloud.engine, VENUE, now=utc_now(), capacity=CAPACITY)


def _trust_issuer(cloud: SecureCloud) -> IssuerKey:
    """The union's issuer key, its public half for the doors, and the member on file."""
    issuer = load_or_create(cloud.root / "issuer.json")  # the file dashboard_world made
    with Session(cloud.engine) as session:
        for kid, public in public_keyset(issuer).items():
            put_key(session=session, kid=kid, public_key=public)
        upsert_members(
            session=session,
            entries=[MemberEntry(member_id=MEMBER_ID, status=MemberStatus.ACTIVE)],
        )
        session.commit()
    return issuer


def _claim_door(cloud: SecureCloud, stack: ExitStack) -> DoorBox:
    """Power on a door box and claim it; it syncs and starts in the background."""
    door = DoorBox(new_box(cloud, "door-box", hardware='kind = "sim"', wiring=DOOR_WIRING))
    door.power_on()
    stack.callback(door.power_off)
    wait_pending(cloud, door.box.code.serial, timeout=DEADLINE_S)
    body = {"code": door.box.code.text(), "venue_id": VENUE, "role": "door", "device_id": DOOR}
    with cloud.client() as client:
        client.post("/devices/claim", body)
    return door


@contextmanager
def dashboard_world(root: Path) -> Iterator[DashboardWorld]:
    """The running world on SQLite under ``root``; everything is stopped after."""
    # The member page mints codes with the union's issuer key: it exists before the API starts.
    load_or_create(root / "issuer.json")
    web = WebSettings(issuer_key_file=root / "issuer.json")
    with secure_cloud(root, web=web) as cloud, ExitStack() as stack:
        _seed_people(cloud)
        issuer = _trust_issuer(cloud)
        door = _claim_door(cloud, stack)
        yield DashboardWorld(cloud, door, issuer)
