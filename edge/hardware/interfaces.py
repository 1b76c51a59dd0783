"""The small interfaces every hardware driver implements, real or simulated.

The agent only ever sees these; `edge/hardware/*` holds the real drivers (gpiozero,
pymodbus, 1-wire sysfs, SMBus) and `firmware_sim` plays the hardware *behind* them
(mock GPIO pins, a Modbus server, a fake sysfs tree, a fake SMBus), so the same driver
code runs in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from edge.errors import EdgeError


class HardwareError(EdgeError, RuntimeError):
    """A sensor could not be read; the message says which and what to check."""


@dataclass(frozen=True, slots=True)
class Crossings:
    """People who crossed a doorway since the previous call."""

    entered: int
    left: int


class PeopleCounter(Protocol):
    """Two IR beams across a doorway; the order they break in gives the direction."""

    def take(self) -> Crossings:
        """Return and reset the crossings counted since the last call."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MeterReading:
    energy_kwh: float  # cumulative import register
    power_w: float
    voltage_v: float


class EnergyMeter(Protocol):
    """A DIN-rail energy meter read over Modbus."""

    def read(self) -> MeterReading: ...

    def close(self) -> None: ...


class Thermometer(Protocol):
    """One temperature probe (for example a DS18B20 in a fridge)."""

    @property
    def sensor_id(self) -> str: ...

    def read_c(self) -> float: ...


@dataclass(frozen=True, slots=True)
class SkinTempSummary:
    """Aggregate of contactless readings over an interval: no per-person record leaves."""

    count: int
    mean_c: float | None
    max_c: float | None
    fever_count: int


class SkinThermometer(Protocol):
    """An I²C infrared thermometer at the door, summarised per interval."""

    def measure(self) -> float | None:
        """Read the person in front of the sensor now; ``None`` if nobody plausible is there."""
        ...

    def take_summary(self) -> SkinTempSummary:
        """Return and reset the summary of people measured since the last call."""
        ...
