"""The simulated SDM meter is a real Modbus TCP server that cleans up after itself."""

import socket
import threading
from collections.abc import Iterator

import pytest
from pymodbus.client import ModbusTcpClient

from firmware_sim.modbus_meter import SdmMeterServer


@pytest.fixture
def meter_server() -> Iterator[SdmMeterServer]:
    with SdmMeterServer() as server:
        yield server


def test_stop_releases_the_port_and_the_thread() -> None:
    before = set(threading.enumerate())
    server = SdmMeterServer()
    server.start()
    port = server.port
    server.stop()

    assert set(threading.enumerate()) == before
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_a_given_port_is_used() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with SdmMeterServer(port=port) as server:
        assert server.port == port


def test_a_busy_port_is_reported() -> None:
    with SdmMeterServer() as first:
        second = SdmMeterServer(port=first.port)
        with pytest.raises(RuntimeError, match=f"could not listen on port {first.port}"):
            second.start()


def test_writes_are_refused_like_a_real_meter(meter_server: SdmMeterServer) -> None:
    client = ModbusTcpClient(meter_server.host, port=meter_server.port, timeout=1, retries=0)
    try:
        response = client.write_register(0x0156, 0, device_id=1)
        assert response.isError()
        holding = client.read_holding_registers(0x0156, count=2, device_id=1)
        assert holding.isError()
    finally:
        client.close()  # type: ignore[no-untyped-call]


def test_energy_only_grows(meter_server: SdmMeterServer) -> None:
    meter_server.accumulate(power_w=1000.0, voltage_v=220.0, seconds=3600)
    meter_server.accumulate(power_w=-50.0, voltage_v=220.0, seconds=3600)

    assert meter_server.state.energy_kwh == pytest.approx(1.0)
    assert meter_server.state.current_a == pytest.approx(-50.0 / 220.0)
