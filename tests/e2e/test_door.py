"""A station door through a whole outage: no broker, no cloud, a restart in between.

Valid members still get in, refusals still happen, every decision waits in the outbox,
and once the network is back each one is stored exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, text

from cloud.ingest.store import IngestStore
from cloud.ingest.worker import IngestWorker, MqttEndpoint
from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.reasons import Reason
from edge.agent import BoxHardware, EdgeAgent
from edge.door.runtime import DoorParts
from edge.hardware.door import DoorPins
from edge.sampler import Sensors
from edge.settings import EdgeSettings
from firmware_sim.camera import VirtualCamera
from firmware_sim.door import SimDoor
from ops.broker.process import BrokerOptions, BrokerProcess, free_port
from protocol.access import MemberRecord, MemberStatus
from protocol.membercode import IssuerKey, issue
from tests.cloud.commands_helper import publish_unlock
from tests.helpers import wait_for

TIMEOUT = 60.0
PINS = DoorPins(relay=5, green_led=6, red_led=13, buzzer=19, door_contact=26, exit_button=20)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Station:
    """One door box's files and simulated surroundings, reused across agent restarts."""

    settings: EdgeSettings
    key: IssuerKey
    factory: MockFactory
    camera: VirtualCamera

    def hardware(self, _settings: EdgeSettings, _resources: ExitStack) -> BoxHardware:
        return BoxHardware(Sensors(), DoorParts(frame_source=self.camera, pin_factory=self.factory))

    def code(self, member: str) -> str:
        return issue(member, key=self.key, now=utc_now())


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    dead = free_port()  # nothing listens here: the cloud is down for the whole test
    settings = EdgeSettings.model_validate(
        {
            "venue": "station-07",
            "device": "door-01",
            "role": "door",
            "data_dir": tmp_path / "box",
            "mqtt_port": free_port(),
            "sample_interval_s": 3600,
            "resend_after_s": 2,
            "door": {
                "policy": {"door_id": "main"},
                "pins": PINS,
                "access": {"sync_url": f"http://127.0.0.1:{dead}", "sync_interval_s": 5},
            },
        }
    )
    key = IssuerKey("k1", Ed25519PrivateKey.generate())
    folder = settings.data_dir / "door-01-access"
    folder.mkdir(parents=True)
    # What an earlier sync left on the box: the issuer's public key and the member cache.
    KeyRing({"k1": key.public_key()}, 1).save(folder / "keys.json")
    members = MemberCache(folder / "members.db")
    records = [MemberRecord("M1", MemberStatus.ACTIVE), MemberRecord("M2", MemberStatus.REVOKED)]
    members.apply_snapshot(1, records, synced_at=utc_now())
    members.close()
    factory = MockFactory()
    camera = VirtualCamera(np.random.default_rng(7))
    yield Station(settings, key, factory, camera)
    factory.close()


@dataclass
class Running:
    agent: EdgeAgent
    stop: threading.Event
    thread: threading.Thread

    def show(self, station: Station, code: str, reason: Reason) -> None:
        """Hold a phone up until the door decides, then take it away."""
        before = self.agent.door.controller.decisions.get(reason, 0) if self.agent.door else 0
        station.camera.show(code)
        try:
            wait_for(
                lambda: (
                    self.agent.door is not None
                    and self.agent.door.controller.decisions.get(reason, 0) > before
                ),
                timeout=TIMEOUT,
                message=f"the door never decided {reason}",
            )
        finally:
            station.camera.show(None)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=TIMEOUT)
        self.agent.close()


def start(station: Station) -> Running:
    agent = EdgeAgent(station.settings, clock=utc_now, hardware=station.hardware)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    return Running(agent, stop, thread)


def stored_items(engine: Engine) -> list[tuple[int, str]]:
    """(seq, event type or metric) of everything door-01 has in the cloud."""
    query = (
        "SELECT seq, type FROM device_event WHERE device_id = 'door-01' "
        "UNION ALL SELECT seq, metric FROM reading WHERE device_id = 'door-01'"
    )
    with engine.connect() as conn:
        rows = conn.execute(text(query)).all()
    return [(int(seq), str(kind)) for seq, kind in rows]


def test_door_admits_offline_and_delivers_every_decision_once(
    station: Station, cloud_engine: Engine, tmp_path: Path
) -> None:
    door = SimDoor(station.factory, PINS)
    first = start(station)
    code = station.code("M1")
    first.show(station, code, Reason.ACCEPTED)
    assert door.relay_unlocked
    first.show(station, station.code("M2"), Reason.REVOKED)
    first.show(station, "https://qr.alipay.com/fkx0000", Reason.NOT_MEMBER_CODE)
    first.finish()

    # Restart, still offline: the caches on disk carry on.
    second = start(station)
    second.show(station, code, Reason.REPLAYED)
    second.show(station, station.code("M1"), Reason.ACCEPTED)
    second.show(station, station.code("M2"), Reason.REVOKED)
    outbox = second.agent.outbox
    issued = outbox.stats().next_seq - outbox.stats().first_seq
    assert outbox.stats().depth == issued  # nothing left the box

    # The network comes back: broker on the port the box was configured with, and ingest.
    broker = BrokerProcess(
        BrokerOptions(port=station.settings.mqtt_port, data_dir=tmp_path / "broker")
    )
    broker.start()
    worker = IngestWorker(
        IngestStore(cloud_engine, clock=utc_now),
        endpoint=MqttEndpoint("127.0.0.1", broker.port, "yz-ingest-door"),
        clock=utc_now,
    )
    worker.start()
    try:
        wait_for(lambda: outbox.stats().depth == 0, timeout=TIMEOUT, message="outbox never drained")
        stored = stored_items(cloud_engine)
        seqs = [seq for seq, _kind in stored]
        assert len(seqs) == len(set(seqs)) == issued - outbox.stats().dropped
        decisions = [kind for _seq, kind in stored if kind == "access.decision"]
        assert len(decisions) == 6
    finally:
        second.finish()
        worker.stop()
        broker.stop()


def test_remote_unlock_from_the_cloud_reaches_only_its_door(
    station: Station, tmp_path: Path
) -> None:
    door = SimDoor(station.factory, PINS)
    broker = BrokerProcess(BrokerOptions(port=station.settings.mqtt_port, data_dir=tmp_path / "b"))
    broker.start()
    running = start(station)
    cloud = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="yz-cloud-commands")
    cloud.connect("127.0.0.1", broker.port)
    cloud.loop_start()
    try:
        # Subscribed, not only connected: an unlock sent on the cloud's connection before the
        # broker took the door's subscription would be lost (nothing is retained).
        wait_for(lambda: running.agent.uplink.listening, timeout=TIMEOUT, message="never listening")
        expires = utc_now() + timedelta(seconds=60)
        # For another device of the same venue: this door must not move.
        publish_unlock(
            cloud,
            venue="station-07",
            device="door-02",
            door="main",
            expires_at=expires,
            issued_by="tech-li",
        )
        publish_unlock(
            cloud,
            venue="station-07",
            device="door-01",
            door="main",
            expires_at=expires,
            issued_by="tech-li",
        )
        controller = running.agent.door.controller if running.agent.door else None
        assert controller is not None
        wait_for(
            lambda: controller.decisions.get(Reason.REMOTE_UNLOCK, 0) == 1,
            timeout=TIMEOUT,
            message="the unlock never arrived",
        )
        assert door.relay_unlocked
    finally:
        cloud.loop_stop()
        cloud.disconnect()
        running.finish()
        broker.stop()
