"""Rollup rows as API entries: pages of one venue's rows with UTC and local times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from cloud.aggregates import queries, raw
from cloud.aggregates.models import EnergyDaily, TemperatureHourly, TrafficDaily, TrafficHourly
from cloud.aggregates.timezones import as_utc, day_bounds, local_date, local_iso, venue_zone
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


def traffic(
    conn: Connection,
    venue: Venue,
    window: Window,
    resolution: Resolution,
    *,
    limit: int,
    offset: int,
) -> tuple[queries.Page, list[dict[str, Any]]]:
    zone = venue_zone(venue.timezone)
    if resolution == "hour":
        t = raw.table(TrafficHourly)
        result = queries.page(
            conn,
            t,
            where=[
                t.c.venue_id == venue.id,
                t.c.hour_utc >= window.since,
                t.c.hour_utc < window.until,
            ],
            order_by=[t.c.hour_utc],
            limit=limit,
            offset=offset,
        )
        return result, [times(r.hour_utc, zone) | plain(r, *TRAFFIC) for r in result.rows]
    first, last = days(window, zone)
    d = raw.table(TrafficDaily)
    result = queries.page(
        conn,
        d,
        where=[d.c.venue_id == venue.id, d.c.local_date >= first, d.c.local_date <= last],
        order_by=[d.c.local_date],
        limit=limit,
        offset=offset,
    )
    data = [day_times(r.local_date, zone) | plain(r, *TRAFFIC, "active_hours") for r in result.rows]
    return result, data


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
    zone = venue_zone(venue.timezone)
    h = raw.table(TemperatureHourly)
    where = [h.c.venue_id == venue.id, h.c.hour_utc >= window.since, h.c.hour_utc < window.until]
    if sensor is not None:
        where.append(h.c.sensor == sensor)
    result = queries.page(
        conn,
        h,
        where=where,
        order_by=[h.c.hour_utc, h.c.device_id, h.c.sensor],
        limit=limit,
        offset=offset,
    )
    data = [
        times(r.hour_utc, zone)
        | plain(r, "device_id", "sensor", "min_c", "avg_c", "max_c", "count")
        for r in result.rows
    ]
    return result, data


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
