"""Issuer key rotation over the API: add a key ahead of use, see which boxes hold it, retire one."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session

from cloud.access import store as access_store
from cloud.devices.models import Device, DeviceHealth
from tests.cloud.auth_world import DEVICE_A, DEVICE_B, NOW, World

KEYS = "/api/v1/issuer-keys"


def public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    return base64.b64encode(raw).decode()


@pytest.fixture(autouse=True)
def doors(world: World) -> None:
    """Two active doors: A holds u-2025 and u-2026, B only u-2025."""
    with Session(world.engine) as session:
        access_store.put_key(session=session, kid="u-2025", public_key=public_key(), now=NOW)
        for device_id, keys in ((DEVICE_A, "u-2025,u-2026"), (DEVICE_B, "u-2025")):
            device = session.get(Device, device_id)
            assert device is not None
            device.role = "door"
            session.add(device)
            session.add(
                DeviceHealth(
                    device_id=device_id,
                    seq=1,
                    ts=NOW,
                    uptime_s=60,
                    outbox_depth=0,
                    issuer_keys=keys,
                    received_at=NOW,
                )
            )
        session.commit()


def test_a_new_key_is_added_ahead_of_use_and_its_holders_counted(world: World) -> None:
    not_before = (NOW + timedelta(days=30)).isoformat()

    added = world.client.post(
        KEYS,
        json={"kid": "u-2026", "public_key": public_key(), "not_before": not_before},
        headers=world.headers("ada"),
    )
    listed = world.client.get(KEYS, headers=world.headers("tom")).json()

    assert added.status_code == 201, added.text
    assert (added.json()["boxes_holding"], added.json()["boxes_total"]) == (1, 2)
    holding = {
        k["kid"]: (k["boxes_holding"], k["boxes_total"], k["active"]) for k in listed["data"]
    }
    assert holding == {"u-2025": (2, 2, True), "u-2026": (1, 2, True)}
    keyset = world.client.get("/api/v1/sync/keys", headers=world.headers("legacy")).json()
    assert set(keyset["keys"]) == {"u-2025", "u-2026"}  # doors get it before its not_before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"kid": "u-2026", "public_key": base64.b64encode(b"short").decode()},
            422,
            "issuer_key_invalid",
        ),
        ({"kid": "u-2026", "public_key": "not base64!"}, 422, "issuer_key_invalid"),
        ({"kid": "U 2026", "public_key": "x"}, 422, "invalid_request"),
        ({"kid": "u-2025", "public_key": "x"}, 409, "issuer_key_exists"),
    ],
)
def test_a_bad_or_reused_key_is_refused(
    world: World, body: dict[str, str], status: int, code: str
) -> None:
    response = world.client.post(KEYS, json=body, headers=world.headers("ada"))

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_retiring_a_key_stops_its_distribution(world: World) -> None:
    retired = world.client.post(f"{KEYS}/u-2025/retire", headers=world.headers("ada"))
    missing = world.client.post(f"{KEYS}/nope/retire", headers=world.headers("ada"))

    assert retired.status_code == 200
    assert retired.json()["active"] is False
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "issuer_key_not_found"
    keyset = world.client.get("/api/v1/sync/keys", headers=world.headers("legacy")).json()
    assert keyset["keys"] == {}


def test_a_technician_reads_keys_but_only_an_admin_changes_them(world: World) -> None:
    assert world.client.get(KEYS, headers=world.headers("tom")).status_code == 200
    assert world.client.get(KEYS, headers=world.headers("mia")).status_code == 403
    body = {"kid": "u-2027", "public_key": public_key()}
    assert world.client.post(KEYS, json=body, headers=world.headers("tom")).status_code == 403
