"""Read DS18B20 1-wire temperature probes through the Linux w1-therm sysfs files."""

from __future__ import annotations

import re
from pathlib import Path

from edge.hardware.interfaces import HardwareError

DEFAULT_W1_ROOT = Path("/sys/bus/w1/devices")
# Family code 0x28 is the DS18B20; other w1 devices (and the bus master) share the directory.
DS18B20_GLOB = "28-*"
# The scratchpad's reset value: the sensor answered but never finished a conversion,
# typically because of parasite power or a brown-out. It is never a real reading.
POWER_ON_RESET_MILLI_C = 85000

_CRC_LINE = re.compile(r"crc=[0-9a-fA-F]{2} (YES|NO)\s*$")
_TEMP_LINE = re.compile(r"t=(-?\d+)\s*$")


def discover(root: Path = DEFAULT_W1_ROOT) -> list[str]:
    """Return the ids of the DS18B20 probes the kernel has found, sorted."""
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.glob(DS18B20_GLOB) if p.is_dir())


def parse_w1_slave(text: str, *, sensor_id: str) -> float:
    """Turn the two-line w1_slave content into degrees Celsius, or raise HardwareError."""
    lines = text.strip().splitlines()
    crc = _CRC_LINE.search(lines[0]) if lines else None
    temp = _TEMP_LINE.search(lines[1]) if len(lines) >= 2 else None
    if crc is None or temp is None:
        raise HardwareError(
            f"DS18B20 {sensor_id} returned unreadable data {text[:80]!r}; "
            "check that the w1-therm driver is loaded"
        )
    if crc.group(1) != "YES":
        raise HardwareError(
            f"DS18B20 {sensor_id} failed its CRC check; check the data wire, the 4.7 kΩ "
            "pull-up and the cable length"
        )
    milli_c = int(temp.group(1))
    if milli_c == POWER_ON_RESET_MILLI_C:
        raise HardwareError(
            f"DS18B20 {sensor_id} reports its power-on value 85 °C; check its power "
            "supply (parasite power is unreliable on long cables)"
        )
    return milli_c / 1000


class DS18B20:
    """A Thermometer for one probe; the kernel does the 1-wire timing and CRC."""

    def __init__(self, sensor_id: str, *, root: Path = DEFAULT_W1_ROOT) -> None:
        self._sensor_id = sensor_id
        self._path = root / sensor_id / "w1_slave"

    @property
    def sensor_id(self) -> str:
        return self._sensor_id

    def read_c(self) -> float:
        try:
            # Reading the file makes the kernel run a conversion (up to 750 ms at 12 bits).
            text = self._path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError as exc:
            raise HardwareError(
                f"DS18B20 {self._sensor_id} is not on the 1-wire bus ({self._path} is missing); "
                "check the probe's wiring and that dtoverlay=w1-gpio is enabled"
            ) from exc
        except OSError as exc:
            raise HardwareError(
                f"DS18B20 {self._sensor_id} could not be read ({exc}); check the probe's wiring"
            ) from exc
        return parse_w1_slave(text, sensor_id=self._sensor_id)
