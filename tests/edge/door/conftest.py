"""Fixtures: a door's real drivers on mock pins, with the simulated door behind them."""

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from edge.hardware.door import DoorHardware
from firmware_sim.door import SimDoor

from .fakes import PINS, FakeTime


@pytest.fixture
def pin_factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.close()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def sim(pin_factory: MockFactory) -> SimDoor:
    return SimDoor(pin_factory, PINS)


@pytest.fixture
def door(pin_factory: MockFactory, fake_time: FakeTime, sim: SimDoor) -> Iterator[DoorHardware]:
    hardware = DoorHardware(
        PINS, clock=fake_time, scheduler=fake_time, pin_factory=pin_factory, show_s=0.05
    )
    yield hardware
    hardware.close()
