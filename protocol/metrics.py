"""The metrics a device may report, each with its unit and the range a real sensor can give."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: str
    low: float
    high: float
    help: str


# Ranges are what the hardware can physically report, not what is comfortable: a value
# outside them is a broken sensor or a forged message, never weather.
METRICS: Final[dict[str, Metric]] = {
    m.name: m
    for m in (
        # DS18B20 is specified for -55..125 °C.
        Metric("temperature_c", "°C", -55.0, 125.0, "air or appliance temperature"),
        # MLX90614 object range is -70..380 °C; people at a door are 30..45.
        Metric("skin_temp_avg_c", "°C", -70.0, 380.0, "mean contactless temperature"),
        Metric("skin_temp_max_c", "°C", -70.0, 380.0, "highest contactless temperature"),
        Metric("skin_temp_count", "people", 0.0, 100_000.0, "people measured at the door"),
        Metric("skin_temp_fever_count", "people", 0.0, 100_000.0, "people measured >= 37.3 °C"),
        # A DIN-rail meter's cumulative register; 10^9 kWh is past any venue's lifetime.
        Metric("energy_kwh", "kWh", 0.0, 1e9, "cumulative active energy (meter register)"),
        # 3-phase 100 A at 400 V is ~70 kW; allow a large hall's feeder.
        Metric("power_w", "W", -1e6, 1e6, "instantaneous active power"),
        Metric("voltage_v", "V", 0.0, 1000.0, "line voltage"),
        Metric("people_in", "people", 0.0, 100_000.0, "people who entered since last reading"),
        Metric("people_out", "people", 0.0, 100_000.0, "people who left since last reading"),
        Metric("outbox_depth", "rows", 0.0, 1e9, "readings and events waiting to be sent"),
        Metric("outbox_dropped", "rows", 0.0, 1e12, "rows dropped because the outbox was full"),
    )
}


def check_value(metric: str, value: float) -> str | None:
    """Why ``value`` is not acceptable for ``metric``, or ``None`` when it is."""
    spec = METRICS.get(metric)
    if spec is None:
        return f"unknown metric {metric[:40]!r}; known metrics: {', '.join(sorted(METRICS))}"
    if not spec.low <= value <= spec.high:
        return (
            f"{value!r} {spec.unit} is outside the range {spec.low:g}..{spec.high:g} a "
            f"{spec.name} sensor can report; check the sensor and its wiring"
        )
    return None
