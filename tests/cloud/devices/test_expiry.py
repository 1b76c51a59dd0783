"""Sent commands nobody answers: the control loop stops waiting at their expiry; a late answer
still wins. Driven through DeviceControl.tick with the test's clock, no broker needed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from cloud.core.time import as_utc
from cloud.devices.broker_sync import RESULT_GRACE
from cloud.devices.control import ControlEndpoint, DeviceControl
from cloud.devices.models import Device, DeviceCommand
from cloud.devices.outbound import UNANSWERED, take_commands
from cloud.devices.vault import RotationVault
from cloud.ingest.inbound import classify
from cloud.ingest.store import IngestStore
from tests.cloud.auth_world import DEVICE_A, NOW, VENUE_A, World
from tests.cloud.devices.helpers import RecordingAdmin


@pytest.fixture(autouse=True)
def online(world: World) -> None:
    """The door has been online, with its own broker account (as a claim leaves it)."""
    with Session(world.engine) as session:
        device = session.get(Device, DEVICE_A)
        assert device is not None
        device.last_seen_at = NOW - timedelta(minutes=1)
        device.credential_generation = 1
        session.add(device)
        session.commit()


def vault_of(world: World) -> RotationVault:
    vault: RotationVault = world.client.app.state.api.devices.vault  # type: ignore[attr-defined]
    return vault


@pytest.fixture
def control(world: World) -> Iterator[DeviceControl]:
    """Never started: the test calls tick() itself, at the time world.clock says."""
    control = DeviceControl(
        world.engine,
        admin=RecordingAdmin(),
        endpoint=ControlEndpoint("127.0.0.1", 1),
        clock=lambda: world.clock[0],
        vault=vault_of(world),
    )
    yield control
    control.stop()


def sent(world: World, name: str, **body: Any) -> DeviceCommand:
    """A command issued at NOW and published, as the control loop would."""
    response = world.client.post(
        f"/api/v1/devices/{DEVICE_A}/commands/{name}",
        json=body or None,
        headers=world.headers("tom"),
    )
    assert response.status_code == 202, response.text
    with Session(world.engine) as session:
        take_commands(session=session, now=NOW, vault=vault_of(world))
    return stored(world, response.json()["command_id"])


def stored(world: World, command_id: str) -> DeviceCommand:
    with Session(world.engine) as session:
        row = session.get(DeviceCommand, command_id)
        assert row is not None
        return row


def tick_at(world: World, control: DeviceControl, at: datetime) -> None:
    world.clock[0] = at
    control.tick()


def answer(world: World, command: DeviceCommand, seq: int, *, ok: bool, status: str) -> None:
    """The box's command.result, as ingest receives it."""
    data = {"command": command.command_id, "name": command.name, "ok": ok, "status": status}
    item = {"seq": seq, "ts": "2025-06-01T08:00:00Z", "type": "command.result", "data": data}
    payload = json.dumps({"v": 1, "device": DEVICE_A, "items": [item]}).encode()
    store = IngestStore(world.engine, clock=lambda: world.clock[0])
    store.write([classify(0, f"yz/v1/{VENUE_A}/{DEVICE_A}/event", payload)])


def test_a_sent_command_nobody_answers_expires_with_the_reason(
    world: World, control: DeviceControl
) -> None:
    unlock = sent(world, "unlock", expires_in_s=60)
    expires = as_utc(unlock.expires_at)

    tick_at(world, control, expires - timedelta(seconds=1))
    assert stored(world, unlock.command_id).status == "published"

    tick_at(world, control, expires)
    tick_at(world, control, expires + timedelta(seconds=1))

    row = stored(world, unlock.command_id)
    assert (row.status, row.detail, row.result_at) == ("expired", UNANSWERED, None)
    assert (control.stats.commands_unanswered, control.stats.commands_expired) == (1, 0)
    assert control.stats.errors == 0


def test_an_answer_in_time_is_not_overwritten(world: World, control: DeviceControl) -> None:
    unlock = sent(world, "unlock", expires_in_s=60)
    answer(world, unlock, 1, ok=True, status="done")

    tick_at(world, control, as_utc(unlock.expires_at) + timedelta(minutes=5))

    assert stored(world, unlock.command_id).status == "done"
    assert control.stats.commands_unanswered == 0


def test_a_late_answer_still_wins(world: World, control: DeviceControl) -> None:
    restart = sent(world, "restart", expires_in_s=30)
    tick_at(world, control, as_utc(restart.expires_at))
    assert stored(world, restart.command_id).status == "expired"

    answer(world, restart, 1, ok=True, status="done")  # it sat in the box's outbox
    answer(world, restart, 2, ok=False, status="replayed")  # a QoS 1 repeat changes nothing

    row = stored(world, restart.command_id)
    assert (row.status, row.detail) == ("done", "done")
    assert row.result_at is not None


def test_a_command_never_sent_takes_no_late_answer(world: World, control: DeviceControl) -> None:
    response = world.client.post(
        f"/api/v1/devices/{DEVICE_A}/commands/restart",
        json={"expires_in_s": 30},
        headers=world.headers("tom"),
    )
    command_id = response.json()["command_id"]
    tick_at(world, control, NOW + timedelta(seconds=30))  # never published: expired unsent

    answer(world, stored(world, command_id), 1, ok=True, status="done")

    assert stored(world, command_id).status == "expired"
    assert control.stats.commands_expired == 1


def test_a_rotation_is_waited_for_while_its_password_is_kept(
    world: World, control: DeviceControl
) -> None:
    rotation = sent(world, "rotate-credentials")
    expires = as_utc(rotation.expires_at)

    tick_at(world, control, expires + RESULT_GRACE - timedelta(seconds=1))
    assert stored(world, rotation.command_id).status == "published"
    assert rotation.command_id in vault_of(world)  # a late "staged" would still be applied

    tick_at(world, control, expires + RESULT_GRACE)
    assert stored(world, rotation.command_id).status == "expired"
    assert rotation.command_id not in vault_of(world)

    answer(world, rotation, 1, ok=True, status="staged")
    # Its password is forgotten: "done" would claim a rotation the broker never got.
    assert stored(world, rotation.command_id).status == "expired"
