"""Idempotent rollups: recompute the hours and local days whose raw rows changed.

Every rollup row is a pure function of the raw rows of its bucket, so a re-run deletes the
bucket's rows and writes them again from raw: running twice, or after a late backlog,
gives the same rows and never adds anything twice. Which buckets changed is found by
arrival time (``received_at``), so a box that drains a day-old outbox still lands in the
right hours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, insert, select

from cloud.aggregates import occupancy, raw
from cloud.aggregates.energy import energy_by_day, meter_steps
from cloud.aggregates.models import EnergyDaily, TemperatureHourly, TrafficDaily, TrafficHourly
from cloud.aggregates.temperature import TEMPERATURE_METRIC, hourly_temperature
from cloud.aggregates.timezones import DAY, HOUR, day_bounds, floor_hour, local_date, venue_zone
from cloud.aggregates.traffic import COUNTER_METRICS, TRAFFIC_EVENTS, count_traffic
from cloud.core.time import as_utc
from cloud.jobs.models import JobState
from cloud.jobs.settings import JobSettings

logger = logging.getLogger(__name__)

ROLLUP_JOB: Final = "rollups"
# Ingest stamps received_at before its transaction commits; rows committed just after a
# run would otherwise fall behind the watermark. Re-rolling a few minutes is harmless.
ARRIVAL_MARGIN: Final = timedelta(minutes=5)
ROLLED_METRICS: Final = (*COUNTER_METRICS, TEMPERATURE_METRIC, raw.ENERGY_METRIC)

TRAFFIC_HOURLY = raw.table(TrafficHourly)
TRAFFIC_DAILY = raw.table(TrafficDaily)
ENERGY_DAILY = raw.table(EnergyDaily)
TEMPERATURE_HOURLY = raw.table(TemperatureHourly)
JOB_STATE = raw.table(JobState)


@dataclass(frozen=True, slots=True)
class RollupOptions:
    raw_retention: timedelta
    backfill: timedelta
    register_max_kwh: float | None = None
    quiet_hour: int | None = 4

    @classmethod
    def from_settings(cls, settings: JobSettings) -> RollupOptions:
        return cls(
            raw_retention=timedelta(days=settings.raw_retention_days),
            backfill=timedelta(hours=settings.rollup_backfill_hours),
            register_max_kwh=settings.energy_register_max_kwh,
            quiet_hour=settings.occupancy_quiet_hour,
        )


@dataclass(frozen=True, slots=True)
class RollupReport:
    venues: int
    hours: int
    days: int
    skipped_hours: int  # changed hours already past raw retention: their rollups are kept


def changed_hours(
    conn: Connection,
    *,
    received_since: datetime | None,
    venue_id: str | None = None,
    ts_window: tuple[datetime, datetime] | None = None,
) -> dict[str, set[datetime]]:
    """The UTC hours, per venue, holding raw rows that arrived at or after ``received_since``
    (any time when None), optionally of one venue and with ``ts`` in ``ts_window``."""
    changed: dict[str, set[datetime]] = {}
    r, e = raw.READING.c, raw.EVENT.c
    queries = []
    for cols, kind in ((r, r.metric.in_(ROLLED_METRICS)), (e, e.type.in_(TRAFFIC_EVENTS))):
        query = select(cols.venue_id, cols.ts).where(kind)
        if received_since is not None:
            query = query.where(cols.received_at >= received_since)
        if venue_id is not None:
            query = query.where(cols.venue_id == venue_id)
        if ts_window is not None:
            query = query.where(cols.ts >= ts_window[0], cols.ts < ts_window[1])
        queries.append(query)
    for query in queries:
        for row in conn.execute(query):
            changed.setdefault(row.venue_id, set()).add(floor_hour(row.ts))
    return changed


def _replace(conn: Connection, table: Any, where: Any, rows: list[dict[str, Any]]) -> None:
    conn.execute(delete(table).where(where))
    if rows:
        conn.execute(insert(table), rows)


def traffic_hour_rows(
    conn: Connection, venue_id: str, hours: set[datetime], now: datetime
) -> list[dict[str, Any]]:
    """The TrafficHourly rows of ``hours``, computed from raw rows."""
    since, until = min(hours), max(hours) + HOUR
    traffic = count_traffic(
        raw.counters(conn, venue_id, since, until),
        raw.door_events(conn, venue_id, since, until),
        floor_hour,
    )
    return [
        {
            "venue_id": venue_id,
            "hour_utc": hour,
            "people_in": c.people_in,
            "people_out": c.people_out,
            "counter_readings": c.counter_readings,
            "visits": c.visits,
            "unique_members": c.unique_members,
            "door_exits": c.door_exits,
            "updated_at": now,
        }
        for hour, c in traffic.items()
        if hour in hours
    ]


def temperature_hour_rows(
    conn: Connection, venue_id: str, hours: set[datetime]
) -> list[dict[str, Any]]:
    """The TemperatureHourly rows of ``hours``, computed from raw rows."""
    since, until = min(hours), max(hours) + HOUR
    stats = hourly_temperature(raw.temperatures(conn, venue_id, since, until))
    return [
        {"venue_id": venue_id, "device_id": device, "sensor": sensor, "hour_utc": hour}
        | {"min_c": s.min_c, "avg_c": s.avg_c, "max_c": s.max_c, "count": s.count}
        for (device, sensor, hour), s in stats.items()
        if hour in hours
    ]


def _rollup_hours(conn: Connection, venue_id: str, hours: set[datetime], now: datetime) -> None:
    t = TRAFFIC_HOURLY.c
    _replace(
        conn,
        TRAFFIC_HOURLY,
        (t.venue_id == venue_id) & t.hour_utc.in_(hours),
        traffic_hour_rows(conn, venue_id, hours, now),
    )
    h = TEMPERATURE_HOURLY.c
    _replace(
        conn,
        TEMPERATURE_HOURLY,
        (h.venue_id == venue_id) & h.hour_utc.in_(hours),
        temperature_hour_rows(conn, venue_id, hours),
    )


def traffic_day_row(
    conn: Connection, venue_id: str, day: date, bounds: tuple[datetime, datetime], now: datetime
) -> dict[str, Any] | None:
    """The TrafficDaily row of local ``day`` (UTC ``bounds``) from raw rows; None if empty."""
    start, end = bounds
    counters = raw.counters(conn, venue_id, start, end)
    events = raw.door_events(conn, venue_id, start, end)
    total = count_traffic(counters, events, lambda _ts: day).get(day)
    if total is None:
        return None
    hourly = count_traffic(counters, events, floor_hour)
    return {
        "venue_id": venue_id,
        "local_date": day,
        "people_in": total.people_in,
        "people_out": total.people_out,
        "visits": total.visits,
        "unique_members": total.unique_members,
        "active_hours": sum(1 for c in hourly.values() if c.any_entry()),
        "updated_at": now,
    }


def _rollup_traffic_day(
    conn: Connection, venue_id: str, day: date, bounds: tuple[datetime, datetime], now: datetime
) -> None:
    row = traffic_day_row(conn, venue_id, day, bounds, now)
    d = TRAFFIC_DAILY.c
    _replace(
        conn,
        TRAFFIC_DAILY,
        (d.venue_id == venue_id) & (d.local_date == day),
        [] if row is None else [row],
    )


def _rollup_energy_day(
    conn: Connection,
    venue_id: str,
    day: date,
    *,
    zone: ZoneInfo,
    now: datetime,
    options: RollupOptions,
) -> None:
    start, end = day_bounds(day, zone)
    day_kwh, resets, rollovers = 0.0, 0, 0
    meters = raw.meter_samples(conn, venue_id, start, end)
    for meter, samples in meters.items():
        baseline = raw.meter_value_before(conn, venue_id, meter, start)
        steps = meter_steps(samples, baseline=baseline, register_max=options.register_max_kwh)
        # Every step ends inside the day, so the day is the only bucket.
        for energy in energy_by_day(steps, zone).values():
            day_kwh += energy.kwh
            resets += energy.resets
            rollovers += energy.rollovers
    rows = []
    if meters:
        rows.append(
            {
                "venue_id": venue_id,
                "local_date": day,
                "kwh": round(day_kwh, 6),
                "meters": len(meters),
                "meter_resets": resets,
                "meter_rollovers": rollovers,
                "updated_at": now,
            }
        )
    e = ENERGY_DAILY.c
    _replace(conn, ENERGY_DAILY, (e.venue_id == venue_id) & (e.local_date == day), rows)


def _affected_days(
    hours: set[datetime], zone: ZoneInfo, now: datetime
) -> tuple[set[date], set[date]]:
    """Local days to redo for traffic, and for energy (whose next day starts from this
    day's last register value, so a late reading changes tomorrow too)."""
    days = {local_date(hour, zone) for hour in hours} | {
        local_date(hour + HOUR - timedelta(microseconds=1), zone) for hour in hours
    }
    today = local_date(now, zone)
    energy_days = days | {day + DAY for day in days if day + DAY <= today}
    return days, energy_days


def recompute_venue(
    conn: Connection,
    venue_id: str,
    hours: set[datetime],
    *,
    zone: ZoneInfo,
    now: datetime,
    options: RollupOptions,
) -> tuple[int, int, int]:
    """Redo the rollups of ``hours`` (UTC hour starts) and their local days.

    Buckets older than the raw retention are left alone: their raw rows may be partly
    deleted, and recomputing would overwrite a complete rollup with a partial one.
    Returns (hours redone, days redone, hours skipped).
    """
    cutoff = as_utc(now) - options.raw_retention
    kept = {floor_hour(h) for h in hours if h >= cutoff}
    if kept:
        _rollup_hours(conn, venue_id, kept, now)
    traffic_days, energy_days = _affected_days(kept, zone, now)
    done_days = 0
    for day in sorted(traffic_days | energy_days):
        bounds = day_bounds(day, zone)
        if bounds[0] < cutoff:
            continue
        if day in traffic_days:
            _rollup_traffic_day(conn, venue_id, day, bounds, now)
        if day in energy_days:
            _rollup_energy_day(conn, venue_id, day, zone=zone, now=now, options=options)
        done_days += 1
    return len(kept), done_days, len(hours) - len(kept)


def rollup_range(
    engine: Engine,
    *,
    venue_id: str,
    since: datetime,
    until: datetime,
    now: datetime,
    options: RollupOptions,
) -> tuple[int, int, int]:
    """Redo every hour in ``[since, until)`` of one venue (an operator's or a test's rerun)."""
    hours: set[datetime] = set()
    hour = floor_hour(since)
    while hour < until:
        hours.add(hour)
        hour += HOUR
    with engine.begin() as conn:
        zone = venue_zone(raw.venue_zones(conn).get(venue_id))
        return recompute_venue(conn, venue_id, hours, zone=zone, now=now, options=options)


def rolled_up_at(conn: Connection) -> datetime | None:
    """When the rollup job last finished (its ``now``); None before its first run."""
    value = conn.execute(
        select(JOB_STATE.c.watermark).where(JOB_STATE.c.name == ROLLUP_JOB)
    ).scalar_one_or_none()
    return None if value is None else as_utc(value)


def _save_watermark(conn: Connection, value: datetime) -> None:
    _replace(
        conn, JOB_STATE, JOB_STATE.c.name == ROLLUP_JOB, [{"name": ROLLUP_JOB, "watermark": value}]
    )


def run_rollups(engine: Engine, *, now: datetime, options: RollupOptions) -> RollupReport:
    """The every-minute job: roll up what arrived since the last run, then refresh occupancy."""
    now = as_utc(now)
    with engine.begin() as conn:
        watermark = rolled_up_at(conn)
        since = watermark - ARRIVAL_MARGIN if watermark else now - options.backfill
        changed = changed_hours(conn, received_since=since)
        zones = raw.venue_zones(conn)
    hours = days = skipped = 0
    for venue_id, venue_hours in sorted(changed.items()):
        # One transaction per venue: one venue's bad data cannot hold back the others.
        with engine.begin() as conn:
            zone = venue_zone(zones.get(venue_id))
            done = recompute_venue(conn, venue_id, venue_hours, zone=zone, now=now, options=options)
        hours, days, skipped = hours + done[0], days + done[1], skipped + done[2]
    if skipped:
        logger.warning(
            "%d changed hours are older than the raw retention; their rollups were kept", skipped
        )
    occupancy.refresh_all(engine, now=now, quiet_hour=options.quiet_hour)
    with engine.begin() as conn:
        _save_watermark(conn, now)
    return RollupReport(venues=len(changed), hours=hours, days=days, skipped_hours=skipped)
