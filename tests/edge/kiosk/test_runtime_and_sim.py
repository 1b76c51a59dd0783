"""The kiosk's composition and its simulated hardware."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gpiozero.pins.mock import MockFactory

from edge.hardware.kiosk import DispenseResult, KioskHardware
from edge.kiosk.journal import State
from edge.kiosk.runtime import KioskBoxParts, KioskRuntime
from edge.kiosk.settings import KioskSettings
from edge.outbox import NewEvent
from firmware_sim.camera import VirtualCamera
from firmware_sim.kiosk import SimKiosk

from .conftest import PINS, edge_wait
from .fakes import Clock, FakeLedger


@dataclass(frozen=True)
class Box:
    device: str
    data_dir: Path
    kiosk: KioskSettings | None
    api_ca_file: Path | None = None


def test_the_runtime_builds_a_kiosk_and_recovers_on_start(
    tmp_path: Path, pin_factory: MockFactory
) -> None:
    SimKiosk(pin_factory, PINS, rng=random.Random(1))
    settings = KioskSettings.model_validate(
        {
            "kiosk_id": "kiosk-1",
            "pins": PINS.model_dump(),
            "screen_port": 0,
            "offline": {"enabled": True, "max_per_redemption": 50, "max_per_member_day": 100,
                        "max_consecutive": 3},
        }
    )  # fmt: skip
    events: list[NewEvent] = []
    ledger = FakeLedger()
    runtime = KioskRuntime(
        Box("kiosk-box", tmp_path, settings),
        parts=KioskBoxParts(
            frame_source=VirtualCamera(np.random.default_rng(0)),
            pin_factory=pin_factory,
            cloud=ledger,
            wait=edge_wait,
        ),
        events=events.extend,
        clock=Clock(),
    )
    try:
        runtime.journal.start("old", member_id="M1", slot="A1", price=30, cloud_touched=False)
        runtime.journal.advance("old", State.APPROVED_OFFLINE, offline=True)
        runtime.journal.advance("old", State.DISPENSING)
        stop = threading.Event()
        stop.set()  # loops end at once; start() still recovers and serves the screen
        runtime.start(stop)
        assert [t.state for t in runtime.journal.all_rows()] == [State.REFUNDED]
        assert [e.type for e in events] == ["kiosk.jammed", "kiosk.refunded"]
        assert runtime.screen.url.startswith("http://127.0.0.1:")
    finally:
        runtime.close()


def test_the_jam_rate_is_seeded_and_the_driver_times_out_on_a_jam(
    pin_factory: MockFactory,
) -> None:
    sim = SimKiosk(pin_factory, PINS, rng=random.Random(42), jam_rate=0.3, stock={"A1": 100})
    waits: list[float] = []

    def wait(event: threading.Event, timeout_s: float) -> bool:
        waits.append(timeout_s)
        return event.is_set()

    hardware = KioskHardware(PINS, pin_factory=pin_factory, wait=wait)
    try:
        results = [hardware.dispense("A1", 8.0) for _ in range(100)]
    finally:
        hardware.close()
    jammed = results.count(DispenseResult.JAMMED)
    assert jammed == sim.stats.jammed
    assert 15 <= jammed <= 45
    assert sim.stock["A1"] == 100 - results.count(DispenseResult.DISPENSED)
    assert waits == [8.0] * 100
    replay = random.Random(42)
    assert jammed == sum(replay.random() < 0.3 for _ in range(100))
