"""A claim through the API hands the box its bundle at once, not at its next hello."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from cloud.api.state import ApiState
from cloud.devices.broker_admin import OpenBrokerAdmin
from cloud.devices.control import ControlEndpoint, DeviceControl
from ops.broker.process import BrokerProcess
from protocol.provisioning import decode_sealed, open_sealed
from tests.cloud.auth_world import NOW, VENUE_A, World
from tests.cloud.devices.helpers import claim_body, new_box
from tests.cloud.devices.test_control import TIMEOUT, Listener, listen
from tests.helpers import wait_for


@pytest.fixture
def control(world: World, broker: BrokerProcess) -> Iterator[DeviceControl]:
    # The world's time (NOW), running on: with the wall clock the control loop would find
    # the box that said hello at NOW idle for months, and forget it before the claim.
    started = time.monotonic()
    running = DeviceControl(
        world.engine,
        admin=OpenBrokerAdmin(),
        endpoint=ControlEndpoint(broker.host, broker.port),
        clock=lambda: NOW + timedelta(seconds=time.monotonic() - started),
        poll_s=0.05,
    )
    running.start()
    wait_for(lambda: running.stats.connected, timeout=TIMEOUT, message="control never connected")
    app = world.client.app
    state: ApiState = app.state.api  # type: ignore[attr-defined]
    devices = dataclasses.replace(state.devices, admin=running.admin, control=running)
    app.state.api = dataclasses.replace(state, devices=devices)  # type: ignore[attr-defined]
    yield running
    running.stop()


@pytest.fixture
def box(broker: BrokerProcess) -> Iterator[Listener]:
    listener = listen(broker, "yz/prov/+/bundle")
    yield listener
    listener.client.disconnect()
    listener.client.loop_stop()


def test_the_bundle_goes_out_with_the_claim(
    world: World, control: DeviceControl, box: Listener
) -> None:
    code = new_box(world.engine, NOW)  # it said hello once, before the claim

    answer = world.client.post(
        "/api/v1/devices/claim", json=claim_body(code, VENUE_A), headers=world.headers("ada")
    )

    assert answer.status_code == 201, answer.text
    topic = f"yz/prov/{code.serial}/bundle"
    (payload,) = wait_for(lambda: box.on(topic), timeout=TIMEOUT, message="no bundle sent")
    bundle = open_sealed(decode_sealed(topic, payload), code)
    assert bundle.device == answer.json()["id"]
    assert control.stats.hellos == 0  # no second hello was needed
