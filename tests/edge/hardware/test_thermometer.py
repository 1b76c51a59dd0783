"""DS18B20 against a simulated 1-wire sysfs tree."""

from pathlib import Path

import pytest

from edge.hardware.interfaces import HardwareError
from edge.hardware.thermometer import DS18B20, discover, parse_w1_slave
from firmware_sim.w1 import W1Bus, W1Fault

FRIDGE = "28-0316a2795fff"


@pytest.mark.parametrize("temp_c", [4.5, 23.125, -10.0625, 0.0])
def test_reads_the_probe(w1_bus: W1Bus, temp_c: float) -> None:
    w1_bus.add(FRIDGE, temp_c=temp_c)

    assert DS18B20(FRIDGE, root=w1_bus.root).read_c() == pytest.approx(temp_c, abs=1 / 16)


def test_parses_the_kernel_format() -> None:
    text = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"

    assert parse_w1_slave(text, sensor_id=FRIDGE) == pytest.approx(23.125)


def test_refuses_a_failed_crc(w1_bus: W1Bus) -> None:
    w1_bus.add(FRIDGE, temp_c=4.0)
    w1_bus.set_fault(FRIDGE, W1Fault.CRC)

    with pytest.raises(HardwareError, match=rf"{FRIDGE} failed its CRC check; check the data wire"):
        DS18B20(FRIDGE, root=w1_bus.root).read_c()


def test_refuses_the_power_on_reset_value(w1_bus: W1Bus) -> None:
    w1_bus.add(FRIDGE, temp_c=4.0)
    w1_bus.set_fault(FRIDGE, W1Fault.POWER_ON_RESET)

    with pytest.raises(HardwareError, match="power-on value 85 °C; check its power"):
        DS18B20(FRIDGE, root=w1_bus.root).read_c()


def test_a_missing_probe_says_what_to_check(w1_bus: W1Bus) -> None:
    w1_bus.add(FRIDGE, temp_c=4.0)
    w1_bus.set_fault(FRIDGE, W1Fault.MISSING)

    with pytest.raises(HardwareError, match=r"not on the 1-wire bus.*check the probe's wiring"):
        DS18B20(FRIDGE, root=w1_bus.root).read_c()


def test_a_probe_back_on_the_bus_reads_again(w1_bus: W1Bus) -> None:
    w1_bus.add(FRIDGE, temp_c=4.0)
    w1_bus.set_fault(FRIDGE, W1Fault.MISSING)
    w1_bus.set_fault(FRIDGE, W1Fault.NONE)

    assert DS18B20(FRIDGE, root=w1_bus.root).read_c() == pytest.approx(4.0)


@pytest.mark.parametrize("text", ["", "garbage\n", "aa : crc=57 YES\n", "t=1000\nt=1000\n"])
def test_refuses_garbled_content(tmp_path: Path, text: str) -> None:
    (tmp_path / FRIDGE).mkdir()
    (tmp_path / FRIDGE / "w1_slave").write_text(text)

    with pytest.raises(HardwareError, match="unreadable data"):
        DS18B20(FRIDGE, root=tmp_path).read_c()


def test_discover_lists_only_ds18b20_probes(w1_bus: W1Bus) -> None:
    w1_bus.add("28-000000000002", temp_c=1.0)
    w1_bus.add("28-000000000001", temp_c=1.0)
    (w1_bus.root / "w1_bus_master1").mkdir()
    (w1_bus.root / "10-000000000003").mkdir()

    assert discover(w1_bus.root) == ["28-000000000001", "28-000000000002"]


def test_discover_without_a_bus_is_empty(tmp_path: Path) -> None:
    assert discover(tmp_path / "no-w1") == []
