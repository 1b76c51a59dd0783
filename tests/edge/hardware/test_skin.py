"""Mlx90614 against a simulated I²C bus."""

import threading

import pytest

from edge.hardware.interfaces import HardwareError, SkinTempSummary
from edge.hardware.skin import Mlx90614
from firmware_sim.smbus import FakeSmBus, celsius_to_raw


def test_nobody_in_front_reads_the_room_and_records_nothing(smbus: FakeSmBus) -> None:
    sensor = Mlx90614(smbus)

    assert sensor.measure() is None
    assert sensor.take_summary() == SkinTempSummary(count=0, mean_c=None, max_c=None, fever_count=0)


def test_summary_aggregates_people_and_resets(smbus: FakeSmBus) -> None:
    sensor = Mlx90614(smbus)
    for skin_c in (36.2, 36.6, 37.5):
        smbus.show(skin_c)
        assert sensor.measure() == pytest.approx(skin_c, abs=0.02)

    summary = sensor.take_summary()

    assert summary.count == 3
    assert summary.mean_c == pytest.approx(36.77, abs=0.02)
    assert summary.max_c == pytest.approx(37.5, abs=0.02)
    assert summary.fever_count == 1
    assert sensor.take_summary().count == 0


@pytest.mark.parametrize("seen_c", [29.0, 46.0, 60.0, -5.0])
def test_implausible_readings_are_ignored(smbus: FakeSmBus, seen_c: float) -> None:
    sensor = Mlx90614(smbus)
    smbus.show(seen_c)

    assert sensor.measure() is None
    assert sensor.take_summary().count == 0


def test_an_unplugged_sensor_says_what_to_check(smbus: FakeSmBus) -> None:
    smbus.unplug()

    with pytest.raises(HardwareError, match=r"0x5A did not answer.*i2cdetect"):
        Mlx90614(smbus).measure()


def test_the_sensor_error_flag_is_a_hardware_error(smbus: FakeSmBus) -> None:
    smbus.override_raw(0x8000 | celsius_to_raw(36.5))

    with pytest.raises(HardwareError, match="flagged a measurement error"):
        Mlx90614(smbus).measure()


def test_measuring_from_many_threads_loses_nothing(smbus: FakeSmBus) -> None:
    sensor = Mlx90614(smbus)
    smbus.show(36.5)

    def measure() -> None:
        for _ in range(50):
            sensor.measure()

    threads = [threading.Thread(target=measure) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sensor.take_summary().count == 200
