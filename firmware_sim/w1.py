"""A fake Linux 1-wire sysfs tree with DS18B20 probes, written the way w1-therm shows it."""

from __future__ import annotations

import os
import tempfile
import threading
from enum import Enum
from pathlib import Path

CONFIG_12_BIT = 0x7F
POWER_ON_RAW = 0x0550  # 85 °C, the scratchpad's reset value


class W1Fault(Enum):
    """What can go wrong on a real bus, for exercising the driver's refusals."""

    NONE = "none"
    CRC = "crc"  # a noisy line: the kernel's CRC check says NO
    POWER_ON_RESET = "power-on-reset"  # brown-out: the sensor reports 85 °C
    MISSING = "missing"  # unplugged: the device directory disappears


def crc8_maxim(data: bytes) -> int:
    """Dallas/Maxim 1-wire CRC-8 (x^8 + x^5 + x^4 + 1, reflected), as the DS18B20 sends."""
    crc = 0
    for byte in data:
        value = byte
        for _ in range(8):
            mix = (crc ^ value) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            value >>= 1
    return crc


def scratchpad(raw: int) -> bytes:
    """The 9-byte scratchpad for a raw 1/16 °C reading, CRC included."""
    body = bytes([raw & 0xFF, (raw >> 8) & 0xFF, 0x4B, 0x46, CONFIG_12_BIT, 0xFF, 0x0C, 0x10])
    return body + bytes([crc8_maxim(body)])


def w1_slave_text(temp_c: float, *, fault: W1Fault = W1Fault.NONE) -> str:
    """Render ``w1_slave`` exactly as drivers/w1/slaves/w1_therm.c prints it."""
    raw = POWER_ON_RAW if fault is W1Fault.POWER_ON_RESET else round(temp_c * 16) & 0xFFFF
    pad = scratchpad(raw)
    verdict = "YES"
    if fault is W1Fault.CRC:
        pad = pad[:8] + bytes([pad[8] ^ 0x5A])
        verdict = "NO"
    signed = raw - 0x10000 if raw & 0x8000 else raw
    # The kernel's C division truncates towards zero; int() does the same.
    milli_c = int(signed * 1000 / 16)
    hex_bytes = " ".join(f"{b:02x}" for b in pad)
    return f"{hex_bytes} : crc={pad[8]:02x} {verdict}\n{hex_bytes} t={milli_c}\n"


class W1Bus:
    """The sysfs directory the kernel would populate; files are replaced atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._temps: dict[str, float] = {}
        self._faults: dict[str, W1Fault] = {}
        root.mkdir(parents=True, exist_ok=True)

    @property
    def sensor_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._temps)

    def add(self, sensor_id: str, *, temp_c: float) -> None:
        if not sensor_id.startswith("28-"):
            raise ValueError(f"{sensor_id!r} is not a DS18B20 id (family 28-)")
        with self._lock:
            self._faults[sensor_id] = W1Fault.NONE
            self._temps[sensor_id] = temp_c
            self._render(sensor_id)

    def set_temp(self, sensor_id: str, temp_c: float) -> None:
        with self._lock:
            self._temps[sensor_id] = temp_c
            self._render(sensor_id)

    def set_fault(self, sensor_id: str, fault: W1Fault) -> None:
        with self._lock:
            self._faults[sensor_id] = fault
            self._render(sensor_id)

    def temp_c(self, sensor_id: str) -> float:
        with self._lock:
            return self._temps[sensor_id]

    def _render(self, sensor_id: str) -> None:
        directory = self.root / sensor_id
        fault = self._faults[sensor_id]
        if fault is W1Fault.MISSING:
            (directory / "w1_slave").unlink(missing_ok=True)
            if directory.exists():
                directory.rmdir()
            return
        directory.mkdir(exist_ok=True)
        text = w1_slave_text(self._temps[sensor_id], fault=fault)
        _write_atomically(directory / "w1_slave", text)


def _write_atomically(path: Path, text: str) -> None:
    # A reader polling the file must never see half of it: write aside, then rename over.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".w1_slave.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
