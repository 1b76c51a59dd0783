"""A fake I²C bus with an MLX90614 on it, showing whoever stands in front of the door."""

from __future__ import annotations

import errno
import os
import threading

MLX90614_ADDRESS = 0x5A
AMBIENT_REGISTER = 0x06  # Ta, the sensor's own die temperature
OBJECT_REGISTER = 0x07  # Tobj1, what the lens sees


def celsius_to_raw(temp_c: float) -> int:
    """The MLX90614 RAM format: kelvin in 0.02 K steps."""
    return round((temp_c + 273.15) / 0.02) & 0x7FFF


class FakeSmBus:
    """Anything with ``read_word_data`` will do for the driver; this one is thread-safe.

    With nobody in front, the lens sees the room (ambient); :meth:`show` puts a person's
    skin in view until :meth:`clear`.
    """

    def __init__(self, *, ambient_c: float = 26.0, address: int = MLX90614_ADDRESS) -> None:
        self._lock = threading.Lock()
        self._address = address
        self._ambient_c = ambient_c
        self._subject_c: float | None = None
        self._raw_override: int | None = None
        self._present = True

    def set_ambient(self, temp_c: float) -> None:
        with self._lock:
            self._ambient_c = temp_c

    def show(self, skin_c: float) -> None:
        with self._lock:
            self._subject_c = skin_c

    def clear(self) -> None:
        with self._lock:
            self._subject_c = None

    def unplug(self, *, unplugged: bool = True) -> None:
        """Take the sensor off the bus: reads fail like a real NACK."""
        with self._lock:
            self._present = not unplugged

    def override_raw(self, raw: int | None) -> None:
        """Return this raw word from the object register (e.g. with the error flag set)."""
        with self._lock:
            self._raw_override = raw

    def read_word_data(self, i2c_addr: int, register: int) -> int:
        with self._lock:
            if i2c_addr != self._address or not self._present:
                # smbus2 raises this when no device acknowledges its address.
                raise OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO))
            if register == AMBIENT_REGISTER:
                return celsius_to_raw(self._ambient_c)
            if register != OBJECT_REGISTER:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            if self._raw_override is not None:
                return self._raw_override
            seen = self._ambient_c if self._subject_c is None else self._subject_c
            return celsius_to_raw(seen)

    def close(self) -> None:
        """smbus2.SMBus has close(); nothing to release here."""
