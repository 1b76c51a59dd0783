"""Fixtures: the simulated hardware the real drivers are tested against."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from firmware_sim.beams import BeamPair
from firmware_sim.modbus_meter import SdmMeterServer
from firmware_sim.smbus import FakeSmBus
from firmware_sim.w1 import W1Bus

OUTSIDE_PIN = 17
INSIDE_PIN = 27


@pytest.fixture
def pin_factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.close()


@pytest.fixture
def beams(pin_factory: MockFactory) -> BeamPair:
    return BeamPair(pin_factory, OUTSIDE_PIN, INSIDE_PIN)


@pytest.fixture
def meter_server() -> Iterator[SdmMeterServer]:
    with SdmMeterServer() as server:
        yield server


@pytest.fixture
def w1_bus(tmp_path: Path) -> W1Bus:
    return W1Bus(tmp_path / "devices")


@pytest.fixture
def smbus() -> FakeSmBus:
    return FakeSmBus(ambient_c=26.0)
