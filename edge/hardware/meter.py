"""Read an Eastron SDM120/SDM630-style DIN-rail energy meter over Modbus TCP."""

from __future__ import annotations

import logging
import math
import threading

from pymodbus import ModbusException
from pymodbus.client import ModbusTcpClient

from edge.hardware.interfaces import HardwareError, MeterReading

logger = logging.getLogger(__name__)

# Eastron SDM input registers (function code 4), each an IEEE-754 float32 in two
# big-endian registers. See the "SDM120 Modbus protocol" sheet, section "Input registers".
VOLTAGE_REGISTER = 0x0000
POWER_REGISTER = 0x000C
ENERGY_REGISTER = 0x0156
FLOAT_REGISTERS = 2


class ModbusMeter:
    """An EnergyMeter; a failed read closes the connection so the next read reconnects."""

    def __init__(
        self,
        host: str,
        port: int = 502,
        *,
        device_id: int = 1,
        timeout_s: float = 2.0,
        retries: int = 1,
    ) -> None:
        self._device_id = device_id
        self.name = f"energy meter (Modbus device {device_id}) at {host}:{port}"
        self._lock = threading.Lock()
        # retries is per request; the default 3 with a 3 s timeout would stall a sampler 12 s.
        self._client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=retries)

    def read(self) -> MeterReading:
        # The sync client is not safe to share between threads: one request at a time.
        with self._lock:
            try:
                return MeterReading(
                    energy_kwh=self._read_float(ENERGY_REGISTER, "total active energy"),
                    power_w=self._read_float(POWER_REGISTER, "active power"),
                    voltage_v=self._read_float(VOLTAGE_REGISTER, "voltage"),
                )
            except HardwareError:
                self._client.close()  # type: ignore[no-untyped-call]  # untyped upstream
                raise
            except (ModbusException, OSError) as exc:
                self._client.close()  # type: ignore[no-untyped-call]  # untyped upstream
                raise HardwareError(
                    f"{self.name} did not answer ({exc}); check the network cable, "
                    "the gateway's address/port and that the meter is powered"
                ) from exc

    def _read_float(self, register: int, what: str) -> float:
        response = self._client.read_input_registers(
            register, count=FLOAT_REGISTERS, device_id=self._device_id
        )
        if response.isError():
            raise HardwareError(
                f"{self.name} refused to read {what} (input register 0x{register:04X}): "
                f"{response}; check the device id and that it is an SDM-series meter"
            )
        if len(response.registers) != FLOAT_REGISTERS:
            raise HardwareError(
                f"{self.name} sent {len(response.registers)} registers for {what}, "
                f"expected {FLOAT_REGISTERS}; check the meter model"
            )
        value = ModbusTcpClient.convert_from_registers(
            response.registers, ModbusTcpClient.DATATYPE.FLOAT32, word_order="big"
        )
        if not isinstance(value, float) or not math.isfinite(value):
            raise HardwareError(
                f"{self.name} returned {value!r} for {what}; check the meter's display for a fault"
            )
        return value

    def close(self) -> None:
        with self._lock:
            self._client.close()  # type: ignore[no-untyped-call]  # untyped upstream
