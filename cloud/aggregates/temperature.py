"""Hourly min/avg/max per temperature sensor."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cloud.aggregates.timezones import floor_hour

TEMPERATURE_METRIC = "temperature_c"


@dataclass(frozen=True, slots=True)
class TemperatureSample:
    device_id: str
    sensor: str  # "" for a device's only, unnamed sensor
    ts: datetime
    value: float


@dataclass(frozen=True, slots=True)
class TemperatureStats:
    min_c: float
    avg_c: float
    max_c: float
    count: int


SensorHour = tuple[str, str, datetime]  # device, sensor, UTC hour


def hourly_temperature(samples: Iterable[TemperatureSample]) -> dict[SensorHour, TemperatureStats]:
    values: dict[SensorHour, list[float]] = {}
    for sample in samples:
        values.setdefault((sample.device_id, sample.sensor, floor_hour(sample.ts)), []).append(
            sample.value
        )
    return {
        key: TemperatureStats(
            min_c=min(vals), avg_c=round(sum(vals) / len(vals), 4), max_c=max(vals), count=len(vals)
        )
        for key, vals in values.items()
    }
