"""Summarise contactless skin temperatures from an MLX90614 infrared sensor on I²C."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from edge.hardware.interfaces import HardwareError, SkinTempSummary

logger = logging.getLogger(__name__)

MLX90614_ADDRESS = 0x5A
OBJECT_TEMP_REGISTER = 0x07  # Tobj1 in RAM; see the MLX90614 datasheet, section 8.3.3
# Bit 15 of a RAM temperature is the sensor's error flag, not part of the value.
ERROR_FLAG = 0x8000
KELVIN_PER_LSB = 0.02
ZERO_C_IN_K = 273.15
# A reading outside this band is a wall, a hat, a hot drink or nobody at all.
PLAUSIBLE_MIN_C = 30.0
PLAUSIBLE_MAX_C = 45.0
FEVER_C = 37.3


class WordBus(Protocol):
    """The one SMBus call the sensor needs (``smbus2.SMBus`` satisfies it)."""

    def read_word_data(self, i2c_addr: int, register: int) -> int: ...


def raw_to_celsius(raw: int) -> float:
    return raw * KELVIN_PER_LSB - ZERO_C_IN_K


class Mlx90614:
    """A SkinThermometer: keeps only running aggregates, never a per-person list."""

    def __init__(self, bus: WordBus, *, address: int = MLX90614_ADDRESS) -> None:
        self._bus = bus
        self._address = address
        self._lock = threading.Lock()
        self._count = 0
        self._sum_c = 0.0
        self._max_c: float | None = None
        self._fevers = 0

    def read_object_c(self) -> float:
        """Read the object temperature now, whatever is in front of the sensor."""
        try:
            raw = self._bus.read_word_data(self._address, OBJECT_TEMP_REGISTER)
        except OSError as exc:
            raise HardwareError(
                f"MLX90614 at I²C address 0x{self._address:02X} did not answer ({exc}); "
                "check the wiring and run `i2cdetect -y 1`"
            ) from exc
        if raw & ERROR_FLAG:
            raise HardwareError(
                f"MLX90614 at 0x{self._address:02X} flagged a measurement error (raw 0x{raw:04X}); "
                "check its supply voltage"
            )
        return raw_to_celsius(raw)

    def measure(self) -> float | None:
        temp_c = round(self.read_object_c(), 2)
        if not PLAUSIBLE_MIN_C <= temp_c <= PLAUSIBLE_MAX_C:
            return None
        with self._lock:
            self._count += 1
            self._sum_c += temp_c
            self._max_c = temp_c if self._max_c is None else max(self._max_c, temp_c)
            if temp_c >= FEVER_C:
                self._fevers += 1
        return temp_c

    def take_summary(self) -> SkinTempSummary:
        with self._lock:
            summary = SkinTempSummary(
                count=self._count,
                mean_c=round(self._sum_c / self._count, 2) if self._count else None,
                max_c=self._max_c,
                fever_count=self._fevers,
            )
            self._count = 0
            self._sum_c = 0.0
            self._max_c = None
            self._fevers = 0
        return summary
