"""A whole simulated venue, read through the real edge drivers."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.hardware.interfaces import Crossings
from firmware_sim.curves import VENUE_TZ
from firmware_sim.rig import Drivers, Rig, build_drivers
from firmware_sim.traffic import Passage, Traffic
from tests.helpers import wait_for

START = datetime(2025, 7, 15, 5, 0, tzinfo=VENUE_TZ)


class ManualClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with Rig("outdoor-station", seed=11, base_dir=tmp_path, clock=ManualClock(START)) as rig:
        yield rig


@pytest.fixture
def drivers(rig: Rig) -> Iterator[Drivers]:
    drivers = build_drivers(rig.endpoints, meter_timeout_s=1.0)
    yield drivers
    drivers.close()


def test_counter_sees_every_crossing_the_rig_walks(rig: Rig, drivers: Drivers) -> None:
    entered = left = 0
    for minute in range(10, 4 * 60, 10):
        rig.step(START + timedelta(minutes=minute))
        crossings = drivers.counter.take()
        entered += crossings.entered
        left += crossings.left

    totals = rig.totals
    assert Crossings(entered, left) == Crossings(totals.entered, totals.left)
    assert totals.entered > 10  # the 05:00-09:00 shift change is busy
    assert 0 <= totals.occupancy <= rig.venue.capacity


def test_meter_reads_the_energy_the_rig_accumulated(rig: Rig, drivers: Drivers) -> None:
    rig.step(START + timedelta(hours=6))

    reading = drivers.meter.read()

    assert reading.energy_kwh == pytest.approx(rig.meter.state.energy_kwh, rel=1e-6)
    assert 0.3 < reading.energy_kwh < 10  # a few hundred watts to ~1.5 kW over six hours
    assert 210 < reading.voltage_v < 230


def test_probes_follow_the_fridge_and_the_room(rig: Rig, drivers: Drivers) -> None:
    fridge = []
    for minute in range(5, 3 * 60, 5):
        rig.step(START + timedelta(minutes=minute))
        fridge.append(drivers.fridge.read_c())
        assert drivers.fridge.read_c() == pytest.approx(rig.fridge_c, abs=1 / 16)
        assert 24 < drivers.ambient.read_c() < 32

    assert min(fridge) < 3.5
    assert max(fridge) > 6


def test_ir_sensor_sees_an_entrant_then_the_room(rig: Rig, drivers: Drivers) -> None:
    # The same seed replays the same arrivals: find one to stand in front of the sensor.
    future = Traffic(rig.venue, seed=11, start=START).until(START + timedelta(hours=2))
    entry = next(e for e in future if e.passage is Passage.ENTER and e.skin_c and e.skin_c > 34)

    rig.step(entry.at)
    assert drivers.skin.measure() == pytest.approx(entry.skin_c, abs=0.02)

    rig.step(entry.at + timedelta(seconds=3))
    assert drivers.skin.measure() is None
    assert drivers.skin.take_summary().count == 1


def test_same_seed_same_world(tmp_path: Path) -> None:
    def run(name: str) -> tuple[list[object], float]:
        with Rig("worker-home", seed=4, base_dir=tmp_path / name, clock=ManualClock(START)) as r:
            events = r.step(START + timedelta(hours=14))
            return list(events), r.meter.state.energy_kwh

    assert run("a") == run("b")


def test_library_stays_shut_at_night(tmp_path: Path) -> None:
    night = datetime(2025, 7, 15, 22, 0, tzinfo=VENUE_TZ)
    with Rig("library", seed=2, base_dir=tmp_path, clock=ManualClock(night)) as rig:
        assert rig.step(night + timedelta(hours=10)) == []


def test_background_run_feeds_the_drivers_and_stops_cleanly(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    rig = Rig("outdoor-station", seed=9, base_dir=tmp_path, clock=lambda: datetime.now(UTC))
    drivers = build_drivers(rig.endpoints, meter_timeout_s=1.0)
    counted = Crossings(0, 0)

    def seen_people() -> bool:
        nonlocal counted
        c = drivers.counter.take()
        counted = Crossings(counted.entered + c.entered, counted.left + c.left)
        return counted.entered >= 3

    try:
        rig.start_background(speed=3600.0, tick_s=0.05)  # an hour per second
        wait_for(seen_people, timeout=20, message="rig walked nobody in")
        rig.stop_background()
        seen_people()
        assert counted == Crossings(rig.totals.entered, rig.totals.left)
        assert drivers.meter.read().energy_kwh > 0
    finally:
        drivers.close()
        rig.close()

    assert set(threading.enumerate()) == before
