"""Reads of the raw ``reading`` and ``device_event`` rows the rollups are computed from."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, or_, select

from cloud.aggregates.energy import MeterSample
from cloud.aggregates.temperature import TEMPERATURE_METRIC, TemperatureSample
from cloud.aggregates.traffic import COUNTER_METRICS, TRAFFIC_EVENTS, CounterSample, DoorEvent
from cloud.core.time import as_utc
from cloud.models import DeviceEvent, Reading, Venue

ENERGY_METRIC = "energy_kwh"

Meter = tuple[str, str]  # device, sensor ("" when unnamed)


def table(model: Any) -> Table:
    """The Core table of a SQLModel class (typed, for the query builders)."""
    result: Table = model.__table__
    return result


READING = table(Reading)
EVENT = table(DeviceEvent)
VENUE = table(Venue)


def venue_zones(conn: Connection) -> dict[str, str]:
    return {row.id: row.timezone for row in conn.execute(select(VENUE.c.id, VENUE.c.timezone))}


def counters(
    conn: Connection, venue_id: str, since: datetime, until: datetime
) -> list[CounterSample]:
    rows = conn.execute(
        select(READING.c.ts, READING.c.metric, READING.c.value).where(
            READING.c.venue_id == venue_id,
            READING.c.metric.in_(COUNTER_METRICS),
            READING.c.ts >= since,
            READING.c.ts < until,
        )
    )
    return [CounterSample(as_utc(r.ts), r.metric, r.value) for r in rows]


def door_events(
    conn: Connection, venue_id: str, since: datetime, until: datetime
) -> list[DoorEvent]:
    rows = conn.execute(
        select(EVENT.c.ts, EVENT.c.type, EVENT.c.data).where(
            EVENT.c.venue_id == venue_id,
            EVENT.c.type.in_(TRAFFIC_EVENTS),
            EVENT.c.ts >= since,
            EVENT.c.ts < until,
        )
    )
    return [DoorEvent(as_utc(r.ts), r.type, r.data or {}) for r in rows]


def temperatures(
    conn: Connection, venue_id: str, since: datetime, until: datetime
) -> list[TemperatureSample]:
    rows = conn.execute(
        select(READING.c.device_id, READING.c.sensor, READING.c.ts, READING.c.value).where(
            READING.c.venue_id == venue_id,
            READING.c.metric == TEMPERATURE_METRIC,
            READING.c.ts >= since,
            READING.c.ts < until,
        )
    )
    return [TemperatureSample(r.device_id, r.sensor or "", as_utc(r.ts), r.value) for r in rows]


def meter_samples(
    conn: Connection, venue_id: str, since: datetime, until: datetime
) -> dict[Meter, list[MeterSample]]:
    rows = conn.execute(
        select(READING.c.device_id, READING.c.sensor, READING.c.ts, READING.c.value)
        .where(
            READING.c.venue_id == venue_id,
            READING.c.metric == ENERGY_METRIC,
            READING.c.ts >= since,
            READING.c.ts < until,
        )
        .order_by(READING.c.ts, READING.c.seq)
    )
    meters: dict[Meter, list[MeterSample]] = defaultdict(list)
    for r in rows:
        meters[(r.device_id, r.sensor or "")].append(MeterSample(as_utc(r.ts), r.value))
    return dict(meters)


def meter_value_before(conn: Connection, venue_id: str, meter: Meter, at: datetime) -> float | None:
    """The register's last value before ``at``: the baseline of the first step after it."""
    device_id, sensor = meter
    sensor_match = (
        or_(READING.c.sensor.is_(None), READING.c.sensor == "")
        if sensor == ""
        else READING.c.sensor == sensor
    )
    value = conn.execute(
        select(READING.c.value)
        .where(
            and_(
                READING.c.venue_id == venue_id,
                READING.c.device_id == device_id,
                sensor_match,
                READING.c.metric == ENERGY_METRIC,
                READING.c.ts < at,
            )
        )
        .order_by(READING.c.ts.desc(), READING.c.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if value is None else float(value)
