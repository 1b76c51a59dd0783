"""Time a fridge probe spent above the fridge limit, and an ambient probe above the heat limit.

The hourly rollups find the hours that matter: an hour whose minimum is above the limit
counts whole, one whose maximum is not counts nothing. Only the hours in between need the
raw readings, and those are few: each reading above the limit holds until the next one (at
most MAX_READING_GAP, the alert rule's own "not watched" gap) or the end of its hour. Past
the raw retention such an hour is estimated from its min and max (linearly).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, and_, or_, select
from sqlmodel import Session
from sqlmodel import select as orm_select

from cloud.aggregates import raw
from cloud.aggregates.models import TemperatureHourly
from cloud.aggregates.temperature import TEMPERATURE_METRIC
from cloud.aggregates.timezones import HOUR, local_date, venue_zone
from cloud.alerts.defaults import DEFAULT_RULES
from cloud.alerts.engine import RuleBook
from cloud.alerts.models import AlertKind, AlertRule, SensorRole, SensorRoleName
from cloud.alerts.rules import MAX_READING_GAP
from cloud.core.time import as_utc
from cloud.reports.period import Period
from cloud.reports.venues import ReportVenue

_KIND = {
    SensorRoleName.FRIDGE.value: AlertKind.FRIDGE_WARM,
    SensorRoleName.AMBIENT.value: AlertKind.HEAT,
}
Probe = tuple[str, str, str]  # venue, device, sensor


@dataclass(slots=True)
class Excursion:
    """One probe's time above its limit over the period, and per local day."""

    venue_id: str
    device_id: str
    sensor: str
    role: str  # fridge | ambient
    label: str | None
    limit_c: float
    max_c: float | None = None
    minutes_by_day: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def minutes(self) -> float:
        return round(sum(self.minutes_by_day.values()), 1)


def _limits(conn: Connection, venue_ids: Sequence[str]) -> dict[tuple[str, str], float]:
    """The threshold in force per venue and role: the override, else the district default
    (a disabled rule still has a limit worth reporting against)."""
    defaults = {d.kind: d.threshold for d in DEFAULT_RULES}
    with Session(bind=conn) as session:
        book = RuleBook(session.exec(orm_select(AlertRule)).all())
    limits: dict[tuple[str, str], float] = {}
    for venue_id in venue_ids:
        for role, kind in _KIND.items():
            rule = book.get(venue_id, kind)
            threshold = rule.threshold if rule is not None else defaults[kind]
            if threshold is not None:
                limits[(venue_id, role)] = threshold
    return limits


def _probes(conn: Connection, venue_ids: Sequence[str]) -> list[Excursion]:
    s = raw.table(SensorRole).c
    limits = _limits(conn, venue_ids)
    query = select(s.venue_id, s.device_id, s.sensor, s.role, s.label).where(
        s.venue_id.in_(venue_ids), s.role.in_(list(_KIND))
    )
    return [
        Excursion(r.venue_id, r.device_id, r.sensor, r.role, r.label, limits[(r.venue_id, r.role)])
        for r in conn.execute(query.order_by(s.venue_id, s.role.desc(), s.device_id, s.sensor))
        if (r.venue_id, r.role) in limits
    ]


def _held_minutes(samples: Sequence[tuple[datetime, float]], hour: datetime, limit: float) -> float:
    """Minutes of ``hour`` the sorted ``samples`` (inside it) were above ``limit``."""
    end, seconds = hour + HOUR, 0.0
    for n, (ts, value) in enumerate(samples):
        if value > limit:
            until = samples[n + 1][0] if n + 1 < len(samples) else end
            seconds += (min(until, end, ts + MAX_READING_GAP) - ts).total_seconds()
    return seconds / 60


def _raw_samples(
    conn: Connection, probe: Excursion, hours: Sequence[datetime]
) -> dict[datetime, list[tuple[datetime, float]]]:
    r = raw.READING.c
    sensor = (
        or_(r.sensor.is_(None), r.sensor == "") if probe.sensor == "" else r.sensor == probe.sensor
    )
    query = select(r.ts, r.value).where(
        r.venue_id == probe.venue_id,
        r.device_id == probe.device_id,
        r.metric == TEMPERATURE_METRIC,
        sensor,
        or_(*(and_(r.ts >= h, r.ts < h + HOUR) for h in hours)),
    )
    found: dict[datetime, list[tuple[datetime, float]]] = defaultdict(list)
    for row in conn.execute(query.order_by(r.ts)):
        ts = as_utc(row.ts)
        found[ts.replace(minute=0, second=0, microsecond=0)].append((ts, float(row.value)))
    return found


def _estimate(min_c: float, max_c: float, limit: float) -> float:
    return 60 * (max_c - limit) / (max_c - min_c) if max_c > min_c else 60.0


def excursions(conn: Connection, venues: Sequence[ReportVenue], period: Period) -> list[Excursion]:
    """Every fridge and ambient probe of ``venues``, with its minutes above its limit."""
    probes = _probes(conn, [v.id for v in venues])
    zones = {v.id: venue_zone(v.timezone) for v in venues}
    h = raw.table(TemperatureHourly).c
    for probe in probes:
        start, end = period.bounds(zones[probe.venue_id])
        hours = conn.execute(
            select(h.hour_utc, h.min_c, h.max_c).where(
                h.venue_id == probe.venue_id,
                h.device_id == probe.device_id,
                h.sensor == probe.sensor,
                h.hour_utc >= start,
                h.hour_utc < end,
            )
        ).all()
        probe.max_c = max((row.max_c for row in hours), default=None)
        partial = [as_utc(r.hour_utc) for r in hours if r.max_c > probe.limit_c >= r.min_c]
        samples = _raw_samples(conn, probe, partial) if partial else {}
        for row in hours:
            hour = as_utc(row.hour_utc)
            if row.max_c <= probe.limit_c:
                continue
            if row.min_c > probe.limit_c:
                minutes = 60.0
            elif hour in samples:
                minutes = _held_minutes(samples[hour], hour, probe.limit_c)
            else:
                minutes = _estimate(row.min_c, row.max_c, probe.limit_c)
            probe.minutes_by_day[local_date(hour, zones[probe.venue_id]).isoformat()] += minutes
    return probes
