"""Read side of the aggregates: pages of rollup rows and on-the-fly buckets of raw readings."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Row, Table, func, select

from cloud.aggregates import raw
from cloud.aggregates.timezones import floor_hour, local_date
from cloud.core.time import as_utc


@dataclass(frozen=True, slots=True)
class Page:
    total: int
    rows: Sequence[Row[Any]]


def page(
    conn: Connection,
    table: Table,
    *,
    where: Sequence[ColumnElement[bool]],
    order_by: Sequence[Any],
    limit: int,
    offset: int,
) -> Page:
    total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
    rows = conn.execute(
        select(table).where(*where).order_by(*order_by).limit(limit).offset(offset)
    ).all()
    return Page(int(total), rows)


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime | date
    device_id: str
    sensor: str
    count: int
    min: float
    avg: float
    max: float
    sum: float


def raw_buckets(
    conn: Connection,
    *,
    venue_id: str,
    metric: str,
    sensor: str | None,
    since: datetime,
    until: datetime,
    by_day: ZoneInfo | None,
) -> list[Bucket]:
    """min/avg/max/sum per device, sensor and UTC hour (or local day of ``by_day``), from raw
    readings — for metrics without a rollup table, inside the raw retention."""
    r = raw.READING.c
    query = select(r.device_id, r.sensor, r.ts, r.value).where(
        r.venue_id == venue_id, r.metric == metric, r.ts >= since, r.ts < until
    )
    if sensor is not None:
        query = query.where(r.sensor == sensor)
    key: Callable[[datetime], Hashable] = (
        floor_hour if by_day is None else (lambda ts: local_date(ts, by_day))
    )
    groups: dict[tuple[Any, str, str], list[float]] = {}
    for row in conn.execute(query):
        bucket = key(as_utc(row.ts))
        groups.setdefault((bucket, row.device_id, row.sensor or ""), []).append(row.value)
    return [
        Bucket(
            start=start,
            device_id=device,
            sensor=sensor_name,
            count=len(values),
            min=min(values),
            avg=round(sum(values) / len(values), 4),
            max=max(values),
            sum=round(sum(values), 6),
        )
        for (start, device, sensor_name), values in sorted(groups.items(), key=lambda kv: kv[0])
    ]
