"""Wires firmware_sim's hardware to the real edge drivers for `edge run` and the demo."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from edge.sampler import Sensors
from edge.settings import EdgeSettings, SimHardware
from firmware_sim.rig import Rig, build_drivers


def _utc_now() -> datetime:
    return datetime.now(UTC)


def sim_sensors(settings: EdgeSettings, resources: ExitStack) -> Sensors:
    """Start a simulated venue (its world runs at ``speed``) and the real drivers on it."""
    hw = settings.hardware
    if not isinstance(hw, SimHardware):
        raise TypeError("sim_sensors needs hardware.kind = 'sim'")
    base: Path = settings.data_dir / f"{settings.device}-sim"
    rig = Rig(hw.profile, seed=hw.seed, base_dir=base, clock=_utc_now)
    resources.callback(rig.close)
    drivers = build_drivers(rig.endpoints)
    resources.callback(drivers.close)  # runs before rig.close: drivers go first
    rig.start_background(speed=hw.speed)
    return Sensors(
        counter=drivers.counter,
        meter=drivers.meter,
        thermometers=(drivers.fridge, drivers.ambient),
        skin=drivers.skin,
    )
