"""What the device routes show: boxes waiting to be claimed, health and config state."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from cloud.devices.models import (
    DeviceConfig,
    DeviceConfigRejection,
    DeviceDesiredConfig,
    DeviceHealth,
)
from tests.cloud.auth_world import DEVICE_A, NOW, VENUE_A, World
from tests.cloud.devices.helpers import RecordingAdmin, claim_body, new_box


def test_pending_lists_unclaimed_boxes_seen_within_the_claim_window(
    world: World, admin: RecordingAdmin
) -> None:
    fresh = new_box(world.engine, NOW - timedelta(hours=1))
    new_box(world.engine, NOW - timedelta(days=8))  # its window is over
    claimed = new_box(world.engine, NOW)
    world.client.post(
        "/api/v1/devices/claim", json=claim_body(claimed, VENUE_A), headers=world.headers("tom")
    )

    body = world.client.get("/api/v1/devices/pending", headers=world.headers("tom")).json()

    assert body["count"] == 1
    (box,) = body["data"]
    assert (box["serial"], box["software"], box["hardware"]) == (fresh.serial, "yizhan 0.2", "Pi 4")
    assert (
        world.client.get("/api/v1/devices/pending", headers=world.headers("mia")).status_code == 403
    )
    assert admin.calls  # the claim went to the broker


def test_a_device_shows_its_health_and_config_state(world: World) -> None:
    with Session(world.engine) as session:
        session.add(
            DeviceHealth(
                device_id=DEVICE_A,
                seq=9,
                ts=NOW - timedelta(seconds=30),
                software="0.2",
                uptime_s=3600,
                disk_free_mb=900,
                disk_total_mb=16000,
                cpu_temp_c=51.5,
                outbox_depth=2,
                issuer_keys="u-2025",
                received_at=NOW,
            )
        )
        for version in (1, 2, 3):
            session.add(
                DeviceDesiredConfig(
                    device_id=DEVICE_A, version=version, settings={}, issued_at=NOW, issued_by="tom"
                )
            )
        session.add(
            DeviceConfig(device_id=DEVICE_A, version=2, seq=5, applied_at=NOW, received_at=NOW)
        )
        session.add(
            DeviceConfigRejection(
                device_id=DEVICE_A, version=3, errors=["bad hours"], seq=6, ts=NOW, received_at=NOW
            )
        )
        session.commit()

    listed = world.client.get("/api/v1/devices", headers=world.headers("mia")).json()
    (device,) = listed["data"]

    assert device["health"] == {
        "software": "0.2",
        "uptime_s": 3600,
        "disk_free_mb": 900,
        "disk_total_mb": 16000,
        "cpu_temp_c": 51.5,
        "outbox_depth": 2,
        "issuer_keys": "u-2025",
        "at": (NOW - timedelta(seconds=30)).isoformat(),
    }
    assert device["config"] == {
        "desired_version": 3,
        "applied_version": 2,
        "applied_at": NOW.isoformat(),
        "rejected_version": 3,
        "rejected_errors": ["bad hours"],
    }
