"""DeviceControl against a real broker: hellos in; bundles, commands and configs out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.auth.principal import Principal, Role
from cloud.core.db import make_engine
from cloud.devices.broker_admin import OpenBrokerAdmin
from cloud.devices.claims import ClaimPolicy, ClaimRequest, claim_box
from cloud.devices.config import put_desired_config
from cloud.devices.control import ControlEndpoint, DeviceControl
from cloud.devices.credentials import BundleEndpoint
from cloud.devices.issuing import issue_command
from cloud.devices.models import Device, DeviceCommand, PendingBox
from cloud.migrate import upgrade
from cloud.models import Venue
from ops.broker.process import BrokerProcess
from protocol.codec import encode
from protocol.commands import decode_command
from protocol.device_config import decode_config
from protocol.provisioning import ClaimCode, Hello, decode_sealed, hello_topic, open_sealed
from protocol.topics import Topic
from tests.cloud.devices.helpers import checks_of
from tests.helpers import wait_for

VENUE, DEVICE = "v1", "d1"
TIMEOUT = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Listener:
    """A plain MQTT client recording what it receives on its filters."""

    client: mqtt.Client
    received: list[tuple[str, bytes, bool]] = field(default_factory=list)
    subscribed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [payload for t, payload, _ in self.received if t == topic]

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(timeout=TIMEOUT)


def listen(broker: BrokerProcess, *filters: str) -> Listener:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"test-{len(filters)}-{id(filters)}"
    )
    listener = Listener(client)

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
        c.subscribe([(f, 1) for f in filters])

    def on_message(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with listener.lock:
            listener.received.append((message.topic, bytes(message.payload), message.retain))

    client.on_connect = on_connect
    client.on_subscribe = lambda *_: listener.subscribed.set()
    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert listener.subscribed.wait(TIMEOUT), "the test client was not subscribed"
    return listener


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'cloud.db'}")
    upgrade(engine)
    with Session(engine) as session:
        session.add(Venue(id=VENUE, name="Station 1"))
        session.commit()
        session.add(Device(id=DEVICE, venue_id=VENUE, last_seen_at=utc_now(), online=True))
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def control(engine: Engine, broker: BrokerProcess) -> Iterator[DeviceControl]:
    control = DeviceControl(
        engine,
        admin=OpenBrokerAdmin(),
        endpoint=ControlEndpoint(broker.host, broker.port),
        clock=utc_now,
        poll_s=0.05,
    )
    control.start()
    wait_for(lambda: control.stats.connected, timeout=TIMEOUT, message="control never connected")
    yield control
    control.stop()


@pytest.fixture
def box(broker: BrokerProcess) -> Iterator[Listener]:
    listener = listen(broker, "yz/prov/+/bundle", "yz/v1/+/+/cmd/+", "yz/v1/+/+/config")
    yield listener
    listener.client.disconnect()
    listener.client.loop_stop()


def hello(code: ClaimCode) -> bytes:
    return encode(Hello(serial=code.serial, check=code.check, ts=utc_now(), software="0.2"))


def pending(engine: Engine, serial: str) -> PendingBox | None:
    with Session(engine) as session:
        return session.get(PendingBox, serial)


def test_a_hello_makes_a_pending_box(engine: Engine, control: DeviceControl, box: Listener) -> None:
    code = ClaimCode.generate()

    box.publish(hello_topic(code.serial), hello(code))

    found = wait_for(
        lambda: pending(engine, code.serial), timeout=TIMEOUT, message="no pending box"
    )
    assert found is not None  # wait_for returns only a truthy value
    assert (found.software, found.device_id) == ("0.2", None)
    assert checks_of(engine, code.serial) == {code.check}
    assert box.on(f"yz/prov/{code.serial}/bundle") == []  # unclaimed: nothing to send


def test_a_claimed_box_gets_the_bundle_only_its_label_opens(
    engine: Engine, control: DeviceControl, box: Listener
) -> None:
    code = ClaimCode.generate()
    box.publish(hello_topic(code.serial), hello(code))
    wait_for(lambda: pending(engine, code.serial), timeout=TIMEOUT, message="no pending box")
    with Session(engine) as session:
        claim_box(
            session=session,
            admin=control.admin,
            request=ClaimRequest(code=code, venue_id=VENUE, role="kiosk"),
            by=Principal(subject="tom", role=Role.TECHNICIAN),
            now=utc_now(),
            policy=ClaimPolicy(claim_window=timedelta(days=7), endpoint=BundleEndpoint()),
        )

    box.publish(hello_topic(code.serial), hello(code))

    topic = f"yz/prov/{code.serial}/bundle"
    (payload,) = wait_for(lambda: box.on(topic), timeout=TIMEOUT, message="no bundle sent")
    bundle = open_sealed(decode_sealed(topic, payload), code)
    assert (bundle.device, bundle.venue, bundle.role) == (f"{VENUE}-kiosk-1", VENUE, "kiosk")
    # The count goes up after paho's publish returns, on the control's thread: the box can
    # hold the bundle a moment before it does.
    wait_for(lambda: control.stats.bundles_sent == 1, timeout=TIMEOUT, message="not counted")


def test_a_command_is_published_once_on_the_devices_own_topic(
    engine: Engine, control: DeviceControl, box: Listener
) -> None:
    with Session(engine) as session:
        device = session.get(Device, DEVICE)
        assert device is not None
        row = issue_command(
            session=session,
            vault=control.vault,
            device=device,
            name="unlock",
            by="mia",
            now=utc_now(),
            door="main",
        )
        command_id = row.command_id
    topic = f"yz/v1/{VENUE}/{DEVICE}/cmd/unlock"

    (payload,) = wait_for(lambda: box.on(topic), timeout=TIMEOUT, message="no unlock sent")
    polls = control.stats.polls
    wait_for(lambda: control.stats.polls >= polls + 5, timeout=TIMEOUT, message="no polls")

    assert len(box.on(topic)) == 1
    sent = decode_command(Topic.parse(topic), payload)
    assert sent.command_id == command_id
    with Session(engine) as session:
        stored = session.get(DeviceCommand, command_id)
        assert stored is not None
        assert stored.status == "published"


def test_a_config_is_published_retained(
    engine: Engine, control: DeviceControl, box: Listener, broker: BrokerProcess
) -> None:
    with Session(engine) as session:
        device = session.get(Device, DEVICE)
        assert device is not None
        put_desired_config(
            session=session,
            device=device,
            settings={"sample_interval_s": 20},
            by="tom",
            now=utc_now(),
        )
    topic = f"yz/v1/{VENUE}/{DEVICE}/config"
    wait_for(lambda: box.on(topic), timeout=TIMEOUT, message="no config sent")

    late = listen(broker, topic)  # a box connecting later gets it from the broker
    try:
        (payload,) = wait_for(lambda: late.on(topic), timeout=TIMEOUT, message="not retained")
    finally:
        late.client.disconnect()
        late.client.loop_stop()
    desired = decode_config(Topic.parse(topic), payload)
    assert (desired.version, desired.settings) == (1, {"sample_interval_s": 20})


def test_malformed_hellos_are_counted_and_harm_nothing(
    engine: Engine, control: DeviceControl, box: Listener
) -> None:
    code = ClaimCode.generate()
    box.publish("yz/prov/NOT-A-SERIAL/hello", hello(code))
    box.publish(hello_topic(code.serial), b"{not json")
    box.publish(hello_topic(ClaimCode.generate().serial), hello(code))  # serial mismatch

    wait_for(lambda: control.stats.malformed_hellos == 3, timeout=TIMEOUT, message="not counted")
    box.publish(hello_topic(code.serial), hello(code))

    wait_for(lambda: pending(engine, code.serial), timeout=TIMEOUT, message="control died")
    assert control.stats.errors == 0
