"""An EdgeAgent on simulated parts, run on a thread, with its outbox read without taking rows."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from gpiozero.pins.mock import MockFactory

from edge.agent import AgentReport, BoxHardware, EdgeAgent
from edge.door.runtime import DoorParts
from edge.provision.identity import Identity
from edge.sampler import Sensors
from edge.settings import EdgeSettings, SettingsLayers
from firmware_sim.camera import VirtualCamera
from protocol.provisioning import Bundle
from tests.helpers import wait_for

from .fakes import DEVICE, VENUE

TIMEOUT = 30.0
PINS = {"relay": 5, "green_led": 6, "red_led": 13, "buzzer": 19, "door_contact": 26,
        "exit_button": 20}  # fmt: skip


def utc_now() -> datetime:
    return datetime.now(UTC)


def box_file(data_dir: Path, *, port: int, role: str = "sensor-hub") -> dict[str, Any]:
    """A box's TOML file as a dict: a door or a sensor hub on ``port``, quick to stop."""
    file: dict[str, Any] = {
        "venue": VENUE,
        "device": DEVICE,
        "role": role,
        "data_dir": str(data_dir),
        "mqtt_port": port,
        "sample_interval_s": 3600,
        "drain_on_stop_s": 0.5,
    }
    if role == "door":
        file["door"] = {"policy": {"door_id": "main"}, "pins": PINS}
    return file


def claim(data_dir: Path) -> Identity:
    """The identity a claim leaves on the box (identity.json)."""
    bundle = Bundle(
        serial="abcdefgh23",
        device=DEVICE,
        venue=VENUE,
        role="door",
        mqtt_username=DEVICE,
        mqtt_password="first-password-0001",
        issued_at=utc_now(),
    )
    return Identity.save_bundle(data_dir, bundle)


@dataclass
class Hardware:
    """A door's camera and mock pins, or a sensor hub's nothing."""

    factory: MockFactory = field(default_factory=MockFactory)

    def __call__(self, settings: EdgeSettings, _resources: ExitStack) -> BoxHardware:
        if settings.role != "door":
            return BoxHardware(Sensors())
        camera = VirtualCamera(np.random.default_rng(1))
        return BoxHardware(Sensors(), DoorParts(frame_source=camera, pin_factory=self.factory))


@dataclass
class Running:
    agent: EdgeAgent
    stop: threading.Event
    thread: threading.Thread
    reports: list[AgentReport]

    def report(self) -> AgentReport:
        self.thread.join(timeout=TIMEOUT)
        assert not self.thread.is_alive(), "the agent never returned"
        return self.reports[0]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Events in the outbox, oldest first, without claiming them from the uplink."""
        path = self.agent.settings.outbox_path
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT body FROM outbox WHERE kind = 'event' ORDER BY seq")
            bodies = [json.loads(body) for (body,) in rows]
        return [b for b in bodies if kind is None or b["type"] == kind]

    def wait_event(self, kind: str) -> list[dict[str, Any]]:
        return wait_for(
            lambda: self.events(kind), timeout=TIMEOUT, message=f"no {kind} event in the outbox"
        )


def start(
    file: dict[str, Any],
    *,
    hardware: Hardware,
    identity: Identity | None = None,
    with_layers: bool = True,
    thermal_path: Path | None = None,
    config_version: int = 0,
) -> Running:
    layers = SettingsLayers(file, data_dir=Path(file["data_dir"]))
    options: dict[str, Any] = {"thermal_path": thermal_path} if thermal_path else {}
    agent = EdgeAgent(
        layers.build(),
        clock=utc_now,
        hardware=hardware,
        software="yizhan test",
        identity=identity,
        layers=layers if with_layers else None,
        config_version=config_version,
        **options,
    )
    stop = threading.Event()
    reports: list[AgentReport] = []
    thread = threading.Thread(target=lambda: reports.append(agent.run(stop)), daemon=True)
    thread.start()
    return Running(agent, stop, thread, reports)
