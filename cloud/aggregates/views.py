"""Rollup rows as API entries: pages of one venue's rows with UTC and local times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, select

from cloud.aggregates import fresh, queries, raw, rollups
from cloud.aggregates.models import EnergyDaily, TemperatureHourly, TrafficDaily, TrafficHourly
from cloud.aggregates.timezones import day_bounds, local_date, local_iso, venue_zone
from cloud.core.time import as_utc
from cloud.models import Venue


class Window:
    """A half-open UTC interval ``[since, until)`` a caller asked for."""

    __slots__ = ("since", "until")

    def __init__(self, since: datetime, until: datetime) -> None:
        self.since = since
        self.until = until


Resolution = Literal["hour", "day"]


TRAFFIC = ("people_in", "people_out", "visits", "unique_members")


def days(window: Window, zone: ZoneInfo) -> tuple[date, date]:
    """The local days touched by the window, inclusive."""
    return local_date(window.since, zone), local_date(
        window.until - timedelta(microseconds=1), zone
    )


def times(value: datetime, zone: ZoneInfo, name: str = "start") -> dict[str, str]:
    return {name: as_utc(value).isoformat(), "local": local_iso(value, zone)}


def day_times(day: date, zone: ZoneInfo) -> dict[str, str]:
    return {"date": day.isoformat(), **times(day_bounds(day, zone)[0], zone)}


def plain(row: Any, *names: str) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def _picked(row: fresh.Row, *names: str) -> dict[str, Any]:
    return {name: row[name] for name in names}


def _stored(conn: Connection, table: Table, where: Sequence[Any]) -> list[fresh.Row]:
    return [dict(r._mapping) for r in conn.execute(select(table).where(*where))]


def traffic(
    conn: Connection,
    venue: Venue,
    window: Window,
    resolution: Resolution,
    *,
    limit: int,
    offset: int,
) -> tuple[queries.Page, list[dict[str, Any]]]:
    """Traffic rollups, with buckets holding rows stored since the last rollup computed
    from raw rows (:mod:`cloud.aggregates.fresh`)."""
    zone = venue_zone(venue.timezone)
    if resolution == "hour":
        t = raw.table(TrafficHourly)
        pending = fresh.pending(conn, venue.id, since=window.since, until=window.until)
        hours = {h for h in pending.hours if window.since <= h < window.until}
        rows = fresh.overlay(
            _stored(
                conn,
                t,
                [
                    t.c.venue_id == venue.id,
                    t.c.hour_utc >= window.since,
                    t.c.hour_utc < window.until,
                ],
            ),
            rollups.traffic_hour_rows(conn, venue.id, hours, window.until) if hours else [],
            stale=lambda r: as_utc(r["hour_utc"]) in hours,
            key=lambda r: as_utc(r["hour_utc"]),
        )
        total, chosen = fresh.window(rows, limit=limit, offset=offset)
        data = [times(r["hour_utc"], zone) | _picked(r, *TRAFFIC) for r in chosen]
        return queries.Page(total, []), data
    first, last = days(window, zone)
    d = raw.table(TrafficDaily)
    start, end = day_bounds(first, zone)[0], day_bounds(last, zone)[1]
    stale_days = fresh.pending(conn, venue.id, since=start, until=end).days(zone)
    stale_days = {day for day in stale_days if first <= day <= last}
    fresh_rows = [
        row
        for day in sorted(stale_days)
        if (row := rollups.traffic_day_row(conn, venue.id, day, day_bounds(day, zone), end))
    ]
    rows = fresh.overlay(
        _stored(
            conn, d, [d.c.venue_id == venue.id, d.c.local_date >= first, d.c.local_date <= last]
        ),
        fresh_rows,
        stale=lambda r: r["local_date"] in stale_days,
        key=lambda r: r["local_date"],
    )
    total, chosen = fresh.window(rows, limit=limit, offset=offset)
    data = [day_times(r["local_date"], zone) | _picked(r, *TRAFFIC, "active_hours") for r in chosen]
    return queries.Page(total, []), data


def energy(
    conn: Connection, venue: Venue, window: Window, *, limit: int, offset: int
) -> tuple[queries.Page, list[dict[str, Any]]]:
    zone = venue_zone(venue.timezone)
    first, last = days(window, zone)
    e = raw.table(EnergyDaily)
    result = queries.page(
        conn,
        e,
        where=[e.c.venue_id == venue.id, e.c.local_date >= first, e.c.local_date <= last],
        order_by=[e.c.local_date],
        limit=limit,
        offset=offset,
    )
    data = [
        day_times(r.local_date, zone) | plain(r, "kwh", "meters", "meter_resets", "meter_rollovers")
        for r in result.rows
    ]
    return result, data


def temperature(
    conn: Connection, venue: Venue, window: Window, sensor: str | None, *, limit: int, offset: int
) -> tuple[queries.Page, list[dict[str, Any]]]:
    """Hourly temperature rollups, with hours holding rows stored since the last rollup
    computed from raw rows (:mod:`cloud.aggregates.fresh`)."""
    zone = venue_zone(venue.timezone)
    h = raw.table(TemperatureHourly)
    where = [h.c.venue_id == venue.id, h.c.hour_utc >= window.since, h.c.hour_utc < window.until]
    if sensor is not None:
        where.append(h.c.sensor == sensor)
    pending = fresh.pending(conn, venue.id, since=window.since, until=window.until)
    hours = {x for x in pending.hours if window.since <= x < window.until}
    computed = rollups.temperature_hour_rows(conn, venue.id, hours) if hours else []
    rows = fresh.overlay(
        _stored(conn, h, where),
        [r for r in computed if sensor is None or r["sensor"] == sensor],
        stale=lambda r: as_utc(r["hour_utc"]) in hours,
        key=lambda r: (as_utc(r["hour_utc"]), r["device_id"], r["sensor"]),
    )
    total, chosen = fresh.window(rows, limit=limit, offset=offset)
    data = [
        times(r["hour_utc"], zone)
        | _picked(r, "device_id", "sensor", "min_c", "avg_c", "max_c", "count")
        for r in chosen
    ]
    return queries.Page(total, []), data


def raw_page(
    conn: Connection,
    venue: Venue,
    window: Window,
    metric: str,
    sensor: str | None,
    *,
    limit: int,
    offset: int,
) -> tuple[queries.Page, list[dict[str, Any]]]:
    zone, r = venue_zone(venue.timezone), raw.READING
    where = [
        r.c.venue_id == venue.id,
        r.c.metric == metric,
        r.c.ts >= window.since,
        r.c.ts < window.until,
    ]
    if sensor is not None:
        where.append(r.c.sensor == sensor)
    result = queries.page(
        conn, r, where=where, order_by=[r.c.ts, r.c.device_id, r.c.seq], limit=limit, offset=offset
    )
    data = [
        times(x.ts, zone, "ts") | plain(x, "device_id", "seq", "sensor", "value")
        for x in result.rows
    ]
    return result, data


def bucket_page(
    buckets: Sequence[queries.Bucket], zone: ZoneInfo, *, limit: int, offset: int
) -> tuple[queries.Page, list[dict[str, Any]]]:
    chosen = buckets[offset : offset + limit]
    data = [
        (day_times(b.start, zone) if not isinstance(b.start, datetime) else times(b.start, zone))
        | {
            "device_id": b.device_id,
            "sensor": b.sensor,
            "count": b.count,
            "min": b.min,
            "avg": b.avg,
            "max": b.max,
            "sum": b.sum,
        }
        for b in chosen
    ]
    return queries.Page(len(buckets), []), data
