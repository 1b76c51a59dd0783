"""ModbusMeter over real Modbus TCP against the simulated SDM meter."""

import socket
from collections.abc import Iterator

import pytest

from edge.hardware.interfaces import HardwareError
from edge.hardware.meter import ModbusMeter
from firmware_sim.modbus_meter import MeterState, SdmMeterServer


@pytest.fixture
def meter(meter_server: SdmMeterServer) -> Iterator[ModbusMeter]:
    meter = ModbusMeter(meter_server.host, meter_server.port, timeout_s=1.0)
    yield meter
    meter.close()


def test_reads_the_registers_the_meter_holds(
    meter: ModbusMeter, meter_server: SdmMeterServer
) -> None:
    meter_server.set_state(MeterState(voltage_v=221.5, power_w=1234.5, energy_kwh=4321.25))

    reading = meter.read()

    assert reading.voltage_v == pytest.approx(221.5)
    assert reading.power_w == pytest.approx(1234.5)
    assert reading.energy_kwh == pytest.approx(4321.25)


def test_energy_accumulates_from_power(meter: ModbusMeter, meter_server: SdmMeterServer) -> None:
    before = meter.read().energy_kwh
    meter_server.accumulate(power_w=600.0, voltage_v=225.0, seconds=1800)

    reading = meter.read()

    assert reading.energy_kwh - before == pytest.approx(0.3)
    assert reading.energy_kwh == pytest.approx(meter_server.state.energy_kwh, rel=1e-6)


def test_wrong_device_id_says_to_check_it(meter_server: SdmMeterServer) -> None:
    meter = ModbusMeter(meter_server.host, meter_server.port, device_id=7, timeout_s=1.0)
    try:
        with pytest.raises(HardwareError, match=r"device 7.*check the device id"):
            meter.read()
    finally:
        meter.close()


def test_a_meter_gone_away_is_a_hardware_error_then_reconnects(
    meter: ModbusMeter, meter_server: SdmMeterServer
) -> None:
    meter.read()
    meter_server.stop()

    with pytest.raises(
        HardwareError, match=rf"127\.0\.0\.1:{meter_server.port}.*check the network"
    ):
        meter.read()

    meter_server.start()
    meter_server.set_state(MeterState(power_w=50.0))
    assert meter.read().power_w == pytest.approx(50.0)


def test_nothing_listening_is_a_hardware_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    meter = ModbusMeter("127.0.0.1", port, timeout_s=0.5)
    try:
        with pytest.raises(HardwareError, match="did not answer"):
            meter.read()
    finally:
        meter.close()
