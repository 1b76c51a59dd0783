"""A real Modbus TCP server that answers like an Eastron SDM120/SDM630 energy meter."""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
from dataclasses import dataclass, replace

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

logger = logging.getLogger(__name__)

# Same map the driver reads (edge/hardware/meter.py); repeated here on purpose: the
# simulator stands for the meter's firmware, not for our driver.
VOLTAGE_REGISTER = 0x0000
CURRENT_REGISTER = 0x0006
POWER_REGISTER = 0x000C
FREQUENCY_REGISTER = 0x0046
ENERGY_REGISTER = 0x0156
READ_INPUT_REGISTERS = 4
START_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class MeterState:
    voltage_v: float = 226.0
    power_w: float = 0.0
    energy_kwh: float = 0.0
    frequency_hz: float = 50.0

    @property
    def current_a(self) -> float:
        return self.power_w / self.voltage_v if self.voltage_v else 0.0


def float_registers(value: float) -> list[int]:
    """IEEE-754 float32, high word first, as the SDM meters send it."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


def _register_map() -> list[SimData]:
    return [
        SimData(address, values=0.0, datatype=DataType.FLOAT32)
        for address in (
            VOLTAGE_REGISTER,
            CURRENT_REGISTER,
            POWER_REGISTER,
            FREQUENCY_REGISTER,
            ENERGY_REGISTER,
        )
    ]


async def _absent_device(
    _function_code: int,
    _start_address: int,
    _address: int,
    _count: int,
    _registers: list[int],
    _set_values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    return ExcCodes.GATEWAY_NO_RESPONSE


class SdmMeterServer:
    """Serves one meter on 127.0.0.1 from its own thread and event loop.

    The registers are filled from :attr:`state` on every read, so a reader always sees one
    consistent snapshot; :meth:`accumulate` is how the world adds energy to the register.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, device_id: int = 1) -> None:
        self._host = host
        self._requested_port = port
        self._device_id = device_id
        self._lock = threading.Lock()
        self._state = MeterState()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._port: int | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    @property
    def host(self) -> str:
        return self._host

    @property
    def device_id(self) -> int:
        return self._device_id

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("meter server is not running; call start() first")
        return self._port

    @property
    def state(self) -> MeterState:
        with self._lock:
            return self._state

    def set_state(self, state: MeterState) -> None:
        with self._lock:
            self._state = state

    def accumulate(self, *, power_w: float, voltage_v: float, seconds: float) -> None:
        """Draw ``power_w`` for ``seconds``: the energy register only ever grows."""
        with self._lock:
            added_kwh = max(0.0, power_w) * seconds / 3_600_000
            self._state = replace(
                self._state,
                power_w=power_w,
                voltage_v=voltage_v,
                energy_kwh=self._state.energy_kwh + added_kwh,
            )

    def start(self) -> None:
        """Listen; a restart after :meth:`stop` reuses the same port so clients can reconnect."""
        if self._thread is not None:
            raise RuntimeError("meter server already running")
        self._started.clear()
        self._start_error = None
        port = self._port if self._port is not None else self._requested_port
        self._thread = threading.Thread(
            target=self._run, args=(port,), name=f"sdm-meter-{port}", daemon=True
        )
        self._thread.start()
        if not self._started.wait(START_TIMEOUT_S):
            raise RuntimeError("meter server did not start in time")
        if self._start_error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"meter server could not listen on port {port}") from (
                self._start_error
            )

    def stop(self) -> None:
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        self._thread = None

    def __enter__(self) -> SdmMeterServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self, port: int) -> None:
        try:
            asyncio.run(self._serve(port))
        except Exception as exc:  # noqa: BLE001 - reported to start() on the caller's thread
            self._start_error = exc
            self._started.set()

    async def _serve(self, port: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        devices = [
            SimDevice(self._device_id, simdata=_register_map(), action=self._on_access),
            # Id 0 catches every other id: answer like a TCP-to-RS485 gateway whose target
            # is absent, instead of pymodbus 3.16 logging a KeyError traceback.
            SimDevice(0, simdata=_register_map(), action=_absent_device),
        ]
        server = ModbusTcpServer(devices, address=(self._host, port))
        await server.serve_forever(background=True)
        listener = server.transport
        if not isinstance(listener, asyncio.Server):
            raise OSError(f"could not listen on {self._host}:{port}")
        # With port 0 the kernel picked a free port; ask the socket which.
        self._port = int(listener.sockets[0].getsockname()[1])
        logger.info("SDM meter simulator listening on %s:%d", self._host, self._port)
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await server.shutdown()  # type: ignore[no-untyped-call]  # untyped upstream

    async def _on_access(
        self,
        function_code: int,
        start_address: int,
        _address: int,
        _count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is not None or function_code != READ_INPUT_REGISTERS:
            # A real SDM meter only exposes these as read-only input registers.
            return ExcCodes.ILLEGAL_FUNCTION
        state = self.state
        for address, value in (
            (VOLTAGE_REGISTER, state.voltage_v),
            (CURRENT_REGISTER, state.current_a),
            (POWER_REGISTER, state.power_w),
            (FREQUENCY_REGISTER, state.frequency_hz),
            (ENERGY_REGISTER, state.energy_kwh),
        ):
            offset = address - start_address
            registers[offset : offset + 2] = float_registers(value)
        return None
