"""Commands, config and decommissioning over the API: who may, what is stored, what is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from cloud.devices.broker_sync import remove_decommissioned, settle_rotations
from cloud.devices.models import Device, DeviceCommand, DeviceDesiredConfig
from cloud.devices.outbound import expire_commands, take_commands, take_configs
from protocol.commands import RotateCredentialsCommand, UnlockCommand, decode_command
from protocol.device_config import decode_config
from protocol.topics import Topic
from tests.cloud.auth_world import DEVICE_A, DEVICE_B, NOW, World
from tests.cloud.devices.conftest import use_admin
from tests.cloud.devices.helpers import IMPOSSIBLE_HOURS, RecordingAdmin


@pytest.fixture(autouse=True)
def online(world: World) -> None:
    """Both doors have been online (a never-seen device takes no commands) with their own
    broker accounts (generation 1, as a claim leaves them)."""
    with Session(world.engine) as session:
        for device_id in (DEVICE_A, DEVICE_B):
            device = session.get(Device, device_id)
            assert device is not None
            device.last_seen_at = NOW - timedelta(minutes=1)
            device.credential_generation = 1
            session.add(device)
        session.commit()


def command(
    world: World, who: str, name: str, *, device: str = DEVICE_A, **body: Any
) -> httpx.Response:
    response: httpx.Response = world.client.post(
        f"/api/v1/devices/{device}/commands/{name}", json=body or None, headers=world.headers(who)
    )
    return response


def put_config(world: World, who: str, settings: dict[str, Any], device: str = DEVICE_A) -> Any:
    return world.client.put(
        f"/api/v1/devices/{device}/config", json={"settings": settings}, headers=world.headers(who)
    )


def stored_commands(world: World) -> list[DeviceCommand]:
    with Session(world.engine) as session:
        return list(session.exec(select(DeviceCommand)))


# (who, command, device, expected status): a manager commands their own venue's doors only.
MATRIX = [
    ("ada", "unlock", DEVICE_A, 202),
    ("tom", "restart", DEVICE_B, 202),
    ("mia", "unlock", DEVICE_A, 202),
    ("mia", "diagnostics", DEVICE_A, 202),
    ("mia", "unlock", DEVICE_B, 404),  # another venue looks like no device
    ("mia", "rotate-credentials", DEVICE_A, 403),
    ("tom", "rotate-credentials", DEVICE_A, 202),
    ("legacy", "unlock", DEVICE_A, 403),
    ("mel", "unlock", DEVICE_A, 403),
    ("ada", "wipe", DEVICE_A, 422),  # only decommissioning sends a wipe
]


@pytest.mark.parametrize(("who", "name", "device", "status"), MATRIX)
def test_who_may_send_which_command(
    world: World, who: str, name: str, device: str, status: int
) -> None:
    response = command(world, who, name, device=device)

    assert response.status_code == status, response.text
    assert len(stored_commands(world)) == (1 if status == 202 else 0)
    if status == 202:
        body = response.json()
        assert (body["name"], body["status"]) == (name, "pending")


def test_an_unlock_is_stored_without_secrets_and_published_once(world: World) -> None:
    accepted = command(world, "mia", "unlock", door="back", expires_in_s=60).json()

    with Session(world.engine) as session:
        first = take_commands(session=session, now=NOW, vault=world_vault(world))
        again = take_commands(session=session, now=NOW, vault=world_vault(world))

    assert [m.topic for m in first] == [f"yz/v1/venue-alpha/{DEVICE_A}/cmd/unlock"]
    assert again == []
    sent = decode_command(Topic.parse(first[0].topic), first[0].payload)
    assert isinstance(sent, UnlockCommand)
    assert (sent.command_id, sent.door, sent.issued_by) == (accepted["command_id"], "back", "mia")
    assert sent.expires_at == NOW + timedelta(seconds=60)
    assert (first[0].qos, first[0].retain) == (1, False)
    (row,) = stored_commands(world)
    assert row.status == "published"


def test_a_command_longer_than_its_kind_allows_is_refused(world: World) -> None:
    response = command(world, "tom", "unlock", expires_in_s=3600)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "expires_in_invalid"
    assert stored_commands(world) == []


def test_an_unsent_command_expires(world: World) -> None:
    command(world, "tom", "restart", expires_in_s=30)

    with Session(world.engine) as session:
        expired = expire_commands(session=session, now=NOW + timedelta(seconds=31))
        sent = take_commands(
            session=session, now=NOW + timedelta(seconds=31), vault=world_vault(world)
        )

    assert (expired, sent) == (1, [])
    assert [c.status for c in stored_commands(world)] == ["expired"]


def test_a_never_online_or_decommissioned_device_takes_no_commands(world: World) -> None:
    with Session(world.engine) as session:
        device = session.get(Device, DEVICE_A)
        assert device is not None
        device.last_seen_at = None
        session.add(device)
        session.commit()

    never = command(world, "tom", "unlock")
    world.client.post(f"/api/v1/devices/{DEVICE_B}/decommission", headers=world.headers("tom"))
    retired = command(world, "tom", "unlock", device=DEVICE_B)

    assert (never.status_code, never.json()["error"]["code"]) == (409, "device_never_online")
    assert (retired.status_code, retired.json()["error"]["code"]) == (409, "device_decommissioned")


def world_vault(world: World) -> Any:
    return world.client.app.state.api.devices.vault  # type: ignore[attr-defined]


def test_a_rotation_reaches_the_broker_only_after_the_box_staged_it(world: World) -> None:
    admin = RecordingAdmin()
    use_admin(world, admin)
    accepted = command(world, "tom", "rotate-credentials").json()
    vault = world_vault(world)
    with Session(world.engine) as session:
        (sent,) = take_commands(session=session, now=NOW, vault=vault)
        assert settle_rotations(session=session, admin=admin, vault=vault, now=NOW) == 0
    rotation = decode_command(Topic.parse(sent.topic), sent.payload)
    assert isinstance(rotation, RotateCredentialsCommand)
    assert (rotation.username, rotation.generation) == (DEVICE_A, 2)
    (row,) = stored_commands(world)
    assert rotation.password not in str(row.model_dump())  # the password is only in memory
    assert admin.calls == []

    with Session(world.engine) as session:
        stored = session.get(DeviceCommand, accepted["command_id"])
        assert stored is not None
        stored.status = "done"  # what ingest notes from the box's command.result
        session.add(stored)
        session.commit()
        assert settle_rotations(session=session, admin=admin, vault=vault, now=NOW) == 1
        device = session.get(Device, DEVICE_A)

    assert admin.calls == [("set_password", DEVICE_A), ("disconnect", DEVICE_A)]
    assert admin.passwords[DEVICE_A] == rotation.password
    assert device is not None
    assert device.credential_generation == 2
    assert vault.command_ids() == []
    second = command(world, "tom", "rotate-credentials")
    assert second.status_code == 202  # the first one is over


def test_a_device_without_its_own_account_is_not_rotated(world: World) -> None:
    with Session(world.engine) as session:
        device = session.get(Device, DEVICE_A)
        assert device is not None
        device.credential_generation = 0  # registered by ingest on the development broker
        session.add(device)
        session.commit()

    response = command(world, "tom", "rotate-credentials")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_credentials"


def test_a_second_rotation_waits_for_the_first(world: World) -> None:
    assert command(world, "tom", "rotate-credentials").status_code == 202

    response = command(world, "ada", "rotate-credentials")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "rotation_in_progress"


def test_a_config_is_versioned_and_published_retained(world: World) -> None:
    first = put_config(world, "tom", {"sample_interval_s": 30})
    second = put_config(world, "ada", {"sample_interval_s": 15})

    assert (first.status_code, first.json()) == (201, {"version": 1, "status": "pending"})
    assert second.json()["version"] == 2
    with Session(world.engine) as session:
        (sent,) = take_configs(session=session, now=NOW)  # only the newest goes out
        assert take_configs(session=session, now=NOW) == []
    desired = decode_config(Topic.parse(sent.topic), sent.payload)
    assert (desired.version, desired.settings, sent.retain) == (2, {"sample_interval_s": 15}, True)
    state = world.client.get(f"/api/v1/devices/{DEVICE_A}/config", headers=world.headers("mia"))
    assert state.status_code == 200
    assert state.json()["desired"]["version"] == 2
    assert state.json()["desired"]["published_at"] is not None


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        (IMPOSSIBLE_HOURS, "door.policy.hours"),
        ({"mqtt_host": "evil.example"}, "mqtt_host"),
        ({"door": {"pins": {"relay": 17}}}, "door.pins"),
    ],
)
def test_a_config_the_box_would_refuse_is_not_stored(
    world: World, settings: dict[str, Any], reason: str
) -> None:
    response = put_config(world, "tom", settings)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "config_invalid"
    assert any(reason in d["message"] for d in error["details"]), error
    with Session(world.engine) as session:
        assert session.exec(select(DeviceDesiredConfig)).all() == []


@pytest.mark.parametrize(("who", "status"), [("mia", 403), ("legacy", 403), ("tom", 201)])
def test_only_admins_and_technicians_push_config(world: World, who: str, status: int) -> None:
    assert put_config(world, who, {"sample_interval_s": 30}).status_code == status


def test_a_manager_of_another_venue_sees_no_config(world: World) -> None:
    response = world.client.get(f"/api/v1/devices/{DEVICE_B}/config", headers=world.headers("mia"))

    assert response.status_code == 404


def test_decommissioning_queues_a_wipe_and_removes_the_account_after_its_answer(
    world: World,
) -> None:
    admin = RecordingAdmin()
    command(world, "tom", "restart")
    world.clock[0] = NOW + timedelta(seconds=1)

    gone = world.client.post(
        f"/api/v1/devices/{DEVICE_A}/decommission", headers=world.headers("tom")
    )

    assert gone.status_code == 200
    body = gone.json()
    assert body["status"] == "decommissioned"
    assert [(c["name"], c["status"]) for c in body["commands"]] == [
        ("wipe", "pending"),
        ("restart", "expired"),
    ]
    with Session(world.engine) as session:
        assert (
            remove_decommissioned(session=session, admin=admin, now=NOW, grace=timedelta(minutes=2))
            == []
        )
        wipe = session.exec(select(DeviceCommand).where(DeviceCommand.name == "wipe")).one()
        wipe.status = "done"  # the box answered
        session.add(wipe)
        session.commit()
        removed = remove_decommissioned(
            session=session, admin=admin, now=NOW, grace=timedelta(minutes=2)
        )
    assert [r.device_id for r in removed] == [DEVICE_A]
    assert admin.calls == [("remove", DEVICE_A)]
    again = world.client.post(
        f"/api/v1/devices/{DEVICE_A}/decommission", headers=world.headers("tom")
    )
    assert again.json()["error"]["code"] == "already_decommissioned"


def test_a_silent_box_loses_its_account_after_the_grace_period(world: World) -> None:
    admin = RecordingAdmin(down=True)
    world.client.post(f"/api/v1/devices/{DEVICE_A}/decommission", headers=world.headers("ada"))
    later = NOW + timedelta(minutes=3)

    with Session(world.engine) as session:
        failed = remove_decommissioned(
            session=session, admin=admin, now=later, grace=timedelta(minutes=2)
        )
        admin.down = False
        removed = remove_decommissioned(
            session=session, admin=admin, now=later, grace=timedelta(minutes=2)
        )
        done = remove_decommissioned(
            session=session, admin=admin, now=later, grace=timedelta(minutes=2)
        )

    assert (failed, [r.device_id for r in removed], done) == ([], [DEVICE_A], [])
    assert admin.calls == [("remove", DEVICE_A)]


def test_commands_are_listed_newest_first(world: World) -> None:
    command(world, "tom", "restart")
    world.clock[0] = NOW + timedelta(seconds=5)
    command(world, "tom", "diagnostics")

    body = world.client.get(
        f"/api/v1/devices/{DEVICE_A}/commands", headers=world.headers("mia")
    ).json()

    assert body["count"] == 2
    assert [c["name"] for c in body["data"]] == ["diagnostics", "restart"]
    assert body["data"][0]["issued_by"] == "tom"


def test_no_diagnostics_yet_is_a_clear_404(world: World) -> None:
    response = world.client.get(
        f"/api/v1/devices/{DEVICE_A}/diagnostics", headers=world.headers("tom")
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_diagnostics"
