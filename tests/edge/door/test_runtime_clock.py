"""A door box built as the agent builds it, booted offline with its clock 3 hours behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gpiozero.pins.mock import MockFactory

from edge.access.reasons import Reason
from edge.clock import HostTimeSync, Sync
from edge.door.runtime import DoorParts, DoorRuntime
from edge.hardware.door import DoorPins
from edge.outbox import NewEvent
from edge.settings import EdgeSettings
from firmware_sim.camera import VirtualCamera
from protocol.access import MemberRecord, MemberStatus
from protocol.membercode import IssuerKey, issue

PINS = DoorPins(relay=5, green_led=6, red_led=13, buzzer=19, door_contact=26, exit_button=20)
KEY = IssuerKey("u2026", Ed25519PrivateKey.from_private_bytes(bytes([4]) * 32))


def _settings(data_dir: Path, hardware: dict[str, object] | None = None) -> EdgeSettings:
    return EdgeSettings.model_validate(
        {
            "venue": "station-07",
            "device": "door-01",
            "role": "door",
            "data_dir": data_dir,
            "door": {"policy": {"door_id": "main"}, "pins": PINS},
            **({"hardware": hardware} if hardware else {}),
        }
    )


def test_a_door_runtime_judges_by_trusted_time_and_says_so(tmp_path: Path) -> None:
    true_now = datetime.now(UTC)
    events: list[NewEvent] = []
    factory = MockFactory()
    parts = DoorParts(
        frame_source=VirtualCamera(np.random.default_rng(0)),
        pin_factory=factory,
        time_sync=lambda: Sync.NONE,
    )
    wall = lambda: datetime.now(UTC) - timedelta(hours=3)  # noqa: E731 - booted 3 h behind
    runtime = DoorRuntime(_settings(tmp_path), parts=parts, events=events.extend, clock=wall)
    try:
        runtime.keys.add(KEY.kid, KEY.public_key())
        runtime.members.apply_snapshot(
            1, [MemberRecord("M00000001", MemberStatus.ACTIVE)], synced_at=true_now
        )
        decision = runtime.controller.present(issue("M00000001", key=KEY, now=true_now))
        assert decision.reason is Reason.ACCEPTED, decision.detail
        assert not runtime.time.synchronised
        assert events[-1].data["clock_synchronised"] is False
    finally:
        runtime.close()
        factory.close()
    # Closed: the learned time is on the card, and the next boot starts from it.
    factory = MockFactory()
    again = DoorRuntime(
        _settings(tmp_path),
        parts=DoorParts(
            frame_source=VirtualCamera(np.random.default_rng(0)),
            pin_factory=factory,
            time_sync=lambda: Sync.NONE,
        ),
        events=events.extend,
        clock=wall,
    )
    try:
        assert again.time.now() >= true_now - timedelta(seconds=1)  # codes carry whole seconds
    finally:
        again.close()
        factory.close()


def test_a_real_box_asks_the_host_whether_its_clock_is_synchronised(tmp_path: Path) -> None:
    from edge.door import runtime as door_runtime  # noqa: PLC0415

    real = _settings(tmp_path, {"kind": "real", "rtc": True})
    sim = _settings(tmp_path)
    parts = DoorParts(frame_source=VirtualCamera(np.random.default_rng(0)))
    chosen = door_runtime._time_sync(real, parts)
    assert isinstance(chosen, HostTimeSync)
    assert door_runtime._time_sync(sim, parts)() is Sync.NTP, "a simulated clock is the truth"
