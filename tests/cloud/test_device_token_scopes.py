"""Issue 15, finding 8: a box's own API token reads only what its role needs.

A door syncs members, issuer keys and its venue's bookings; a kiosk syncs members and keys
(it checks member codes with the door's verifier) and reads balances; a sensor hub reads
nothing of members. An integration's token (no box) keeps the SERVICE role's reach.
"""

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlmodel import Session

from cloud.auth.principal import DOOR, KIOSK, SENSOR_HUB
from cloud.devices.credentials import add_device_token
from cloud.devices.decommission import decommission
from cloud.devices.models import Device
from edge.access.bookings import Bookings
from edge.access.members import MemberCache
from edge.access.sync import SyncClient
from edge.kiosk.cloud import HttpKioskCloud, Redemption
from tests.cloud.auth_world import ALICE, NOW, VENUE_A, VENUE_B, World, open_world
from tests.cloud.points.conftest import SLOT, grant, sell

DOOR_A, KIOSK_A, HUB_A = "gate-alpha", "kiosk-alpha", "hub-alpha"
SNAPSHOT = "/api/v1/sync/members/snapshot"
DELTA = "/api/v1/sync/members/delta?from_version=0"
KEYS = "/api/v1/sync/keys"
BOOKINGS = f"/api/v1/sync/venues/{VENUE_A}/bookings"
BALANCE = f"/api/v1/members/{ALICE}/balance"
ENTRIES = f"/api/v1/members/{ALICE}/entries"
REDEMPTION = "/api/v1/kiosk/redemptions/t-none"
# What each kind of box's own token may GET: 200, or the status it is refused with.
EXPECTED: dict[str, dict[str, int]] = {
    SNAPSHOT: {DOOR: 200, KIOSK: 200, SENSOR_HUB: 403},
    DELTA: {DOOR: 200, KIOSK: 200, SENSOR_HUB: 403},
    KEYS: {DOOR: 200, KIOSK: 200, SENSOR_HUB: 403},
    BOOKINGS: {DOOR: 200, KIOSK: 403, SENSOR_HUB: 403},
    BALANCE: {DOOR: 403, KIOSK: 200, SENSOR_HUB: 403},
    ENTRIES: {DOOR: 403, KIOSK: 403, SENSOR_HUB: 403},
    REDEMPTION: {DOOR: 403, KIOSK: 404, SENSOR_HUB: 403},  # 404: allowed, no such id
}


def add_box(world: World, device_id: str, role: str | None, *, venue: str = VENUE_A) -> str:
    """A claimed box of ``role`` at ``venue`` with its own API token; returns the bearer."""
    with Session(world.engine) as session:
        device = Device(id=device_id, venue_id=venue, role=role, status="active")
        session.add(device)
        session.flush()
        token, bearer = add_device_token(session=session, device=device, created_by="ada")
        device.api_token_id = token.id
        session.commit()
    return bearer


def auth(bearer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}"}


@pytest.fixture
def world(migrated_db_url: str) -> Iterator[World]:
    with open_world(migrated_db_url) as world:
        yield world


@pytest.fixture
def boxes(world: World) -> dict[str, str]:
    """The bearer of a door, a kiosk and a sensor hub of venue A, by role."""
    return {
        DOOR: add_box(world, DOOR_A, DOOR),
        KIOSK: add_box(world, KIOSK_A, KIOSK),
        SENSOR_HUB: add_box(world, HUB_A, SENSOR_HUB),
    }


@pytest.mark.parametrize("path", list(EXPECTED))
def test_each_box_reads_only_what_its_role_needs(
    world: World, boxes: dict[str, str], path: str
) -> None:
    for role, bearer in boxes.items():
        response = world.client.get(path, headers=auth(bearer))

        assert response.status_code == EXPECTED[path][role], (role, response.text)
        if response.status_code == 403:
            error = response.json()["error"]
            assert error["code"] == "wrong_device"
            assert "acts only as that box" in error["message"]


def test_an_integration_token_keeps_the_service_reach(world: World) -> None:
    token = world.api_token(venues=[VENUE_A])

    for path in (SNAPSHOT, KEYS, BOOKINGS, BALANCE, ENTRIES):
        assert world.client.get(path, headers=auth(token)).status_code == 200, path


def test_a_door_syncs_no_other_venues_bookings(world: World, boxes: dict[str, str]) -> None:
    other = world.client.get(f"/api/v1/sync/venues/{VENUE_B}/bookings", headers=auth(boxes[DOOR]))

    assert other.status_code == 404


def test_a_box_reads_access_decisions_with_members_pseudonymized(
    world: World, boxes: dict[str, str]
) -> None:
    for bearer in boxes.values():
        answer = world.client.get("/api/v1/access-events", headers=auth(bearer))

        assert answer.status_code == 200, answer.text
        assert answer.json()["count"] == 3  # venue A's decisions, of Alice and of Bob
        assert answer.json()["members_pseudonymized"] is True
        assert ALICE not in answer.text


def test_a_decommissioned_boxs_token_is_refused(world: World, boxes: dict[str, str]) -> None:
    with Session(world.engine) as session:
        device = session.get(Device, DOOR_A)
        assert device is not None
        decommission(session=session, device=device, by="ada", now=NOW)
        session.commit()

    refused = world.client.get(KEYS, headers=auth(boxes[DOOR]))

    assert refused.status_code == 401


def test_a_decommissioned_box_is_refused_even_if_its_token_was_not_revoked(
    world: World, boxes: dict[str, str]
) -> None:
    with Session(world.engine) as session:
        device = session.get(Device, KIOSK_A)
        assert device is not None
        device.status = "decommissioned"  # as if the revocation had been missed
        session.add(device)
        session.commit()

    refused = world.client.get(BALANCE, headers=auth(boxes[KIOSK]))

    assert refused.status_code == 401
    assert "decommissioned" in refused.json()["error"]["message"]


def test_the_edges_own_clients_work_with_their_boxs_token(
    world: World, boxes: dict[str, str], tmp_path: Path
) -> None:
    sell(world.engine, KIOSK_A, venue_id=VENUE_A)
    with Session(world.engine) as session:
        grant(session, ALICE, 10)
    door = SyncClient("http://testserver", boxes[DOOR], http=world.client, clock=lambda: NOW)
    kiosk_sync = SyncClient("http://testserver", boxes[KIOSK], http=world.client, clock=lambda: NOW)
    kiosk = HttpKioskCloud(
        "http://testserver", boxes[KIOSK], http=world.client, sleep=lambda _: None
    )

    with (
        closing(MemberCache(tmp_path / "door.db")) as door_members,
        closing(Bookings(tmp_path / "bookings.db")) as bookings,
        closing(MemberCache(tmp_path / "kiosk.db")) as kiosk_members,
    ):
        synced = [
            door.sync_keys(lambda _keys: None),
            door.sync_members(door_members),
            door.sync_bookings(VENUE_A, bookings),
            kiosk_sync.sync_keys(lambda _keys: None),
            kiosk_sync.sync_members(kiosk_members),
        ]

    assert [result.ok for result in synced] == [True] * 5, synced
    assert kiosk.balance(ALICE).balance == 10
    assert [item.slot for item in kiosk.menu(KIOSK_A).items] == [SLOT]
    assert kiosk.reserve(Redemption("t1", ALICE, KIOSK_A, SLOT, 10)).ok
    assert kiosk.commit("t1").balance == 0
