"""Live occupancy: a baseline count plus the traffic since, clamped at 0, reset daily.

Counting people in and out drifts: a beam misses someone, two leave side by side, a member
holds the door for a friend. So the count is always *recomputed* from a baseline — set to 0
at the venue's quiet hour (04:00 local by default) or to what a manager counted — plus the
hourly traffic since. Recomputing, rather than adding to the last value, makes a refresh
idempotent and lets late readings land where they belong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, delete, func, insert, select

from cloud.aggregates import raw
from cloud.aggregates.models import Occupancy, OccupancyHourly, TrafficHourly, VenueSettings
from cloud.aggregates.timezones import (
    HOUR,
    day_bounds,
    floor_hour,
    last_local_hour,
    local_date,
    venue_zone,
)
from cloud.aggregates.traffic import TrafficCounts, count_traffic
from cloud.core.time import as_utc

OCCUPANCY = raw.table(Occupancy)
OCCUPANCY_HOURLY = raw.table(OccupancyHourly)
TRAFFIC_HOURLY = raw.table(TrafficHourly)
VENUE_SETTINGS = raw.table(VenueSettings)
# Without a quiet hour a venue that nobody resets still gets a fresh start this often.
NO_QUIET_HOUR_WINDOW: Final = timedelta(hours=24)
QUIET_HOUR_RECONCILER: Final = "quiet_hour"


@dataclass(frozen=True, slots=True)
class Baseline:
    count: int
    at: datetime
    reconciled_at: datetime | None
    reconciled_by: str | None


def walk(start: int, nets: Iterable[tuple[datetime, int]]) -> list[tuple[datetime, int]]:
    """The count after each step, never below 0: more people leaving than were counted in
    means the count was low, not that the room holds negative people."""
    count = max(0, start)
    after: list[tuple[datetime, int]] = []
    for at, net in nets:
        count = max(0, count + net)
        after.append((at, count))
    return after


def _hour_counts(row: Any) -> TrafficCounts:
    return TrafficCounts(
        people_in=row.people_in,
        people_out=row.people_out,
        counter_readings=row.counter_readings,
        visits=row.visits,
        door_exits=row.door_exits,
    )


def _baseline(
    conn: Connection, venue_id: str, *, zone: ZoneInfo, now: datetime, quiet_hour: int | None
) -> Baseline:
    row = conn.execute(select(OCCUPANCY).where(OCCUPANCY.c.venue_id == venue_id)).one_or_none()
    return pick_baseline(row, zone=zone, now=now, quiet_hour=quiet_hour)


def pick_baseline(row: Any, *, zone: ZoneInfo, now: datetime, quiet_hour: int | None) -> Baseline:
    """The stored baseline (``row``, an ``occupancy`` row or None) unless the quiet hour
    came after it: then 0 at the quiet hour."""
    quiet = None if quiet_hour is None else last_local_hour(now, quiet_hour, zone)
    if row is not None:
        current = Baseline(
            row.baseline_count,
            as_utc(row.baseline_at),
            None if row.last_reconciled_at is None else as_utc(row.last_reconciled_at),
            row.reconciled_by,
        )
        if quiet is None or current.at >= quiet:
            return current
    if quiet is not None:
        return Baseline(0, quiet, quiet, QUIET_HOUR_RECONCILER)
    return Baseline(0, floor_hour(now) - NO_QUIET_HOUR_WINDOW, None, None)


def _venue_baseline(
    conn: Connection, venue_id: str, *, zone: ZoneInfo, now: datetime, quiet_hour: int | None
) -> Baseline:
    """The baseline under the venue's own quiet hour, else the district's ``quiet_hour``."""
    own = conn.execute(
        select(VENUE_SETTINGS.c.quiet_hour).where(VENUE_SETTINGS.c.venue_id == venue_id)
    ).scalar_one_or_none()
    return _baseline(
        conn, venue_id, zone=zone, now=now, quiet_hour=quiet_hour if own is None else own
    )


def _nets(
    conn: Connection, venue_id: str, baseline: Baseline, now: datetime
) -> list[tuple[datetime, int]]:
    """(hour, net change) from the baseline's hour to the current hour, each hour listed."""
    first = floor_hour(baseline.at)
    last = floor_hour(now)
    nets: dict[datetime, int] = {}
    full_from = first
    if baseline.at > first:  # the baseline fell inside an hour: count only what came after it
        partial_end = first + HOUR
        partial = count_traffic(
            raw.counters(conn, venue_id, baseline.at, partial_end),
            raw.door_events(conn, venue_id, baseline.at, partial_end),
            lambda _ts: first,
        )
        nets[first] = partial[first].net() if first in partial else 0
        full_from = partial_end
    t = TRAFFIC_HOURLY.c
    rows = conn.execute(
        select(TRAFFIC_HOURLY).where(
            t.venue_id == venue_id, t.hour_utc >= full_from, t.hour_utc <= last
        )
    )
    for row in rows:
        nets[as_utc(row.hour_utc)] = _hour_counts(row).net()
    hour, ordered = first, []
    while hour <= last:
        ordered.append((hour, nets.get(hour, 0)))
        hour += HOUR
    return ordered


def refresh_venue(
    conn: Connection, venue_id: str, *, zone: ZoneInfo, now: datetime, quiet_hour: int | None
) -> int:
    """Recompute and store one venue's occupancy and its hourly history; returns the count."""
    now = as_utc(now)
    baseline = _venue_baseline(conn, venue_id, zone=zone, now=now, quiet_hour=quiet_hour)
    history = walk(baseline.count, _nets(conn, venue_id, baseline, now))
    count = history[-1][1] if history else max(0, baseline.count)
    conn.execute(delete(OCCUPANCY).where(OCCUPANCY.c.venue_id == venue_id))
    conn.execute(
        insert(OCCUPANCY),
        {
            "venue_id": venue_id,
            "count": count,
            "baseline_count": baseline.count,
            "baseline_at": baseline.at,
            "updated_at": now,
            "last_reconciled_at": baseline.reconciled_at,
            "reconciled_by": baseline.reconciled_by,
        },
    )
    h = OCCUPANCY_HOURLY.c
    conn.execute(
        delete(OCCUPANCY_HOURLY).where(
            h.venue_id == venue_id, h.hour_utc >= floor_hour(baseline.at)
        )
    )
    if history:
        conn.execute(
            insert(OCCUPANCY_HOURLY),
            [{"venue_id": venue_id, "hour_utc": hour, "count": n} for hour, n in history],
        )
    return count


def refresh_all(engine: Engine, *, now: datetime, quiet_hour: int | None) -> None:
    with engine.connect() as conn:
        zones = raw.venue_zones(conn)
    for venue_id, zone_name in sorted(zones.items()):
        with engine.begin() as conn:
            refresh_venue(
                conn, venue_id, zone=venue_zone(zone_name), now=now, quiet_hour=quiet_hour
            )


def set_occupancy(
    engine: Engine, venue_id: str, *, count: int, now: datetime, by: str, quiet_hour: int | None
) -> int:
    """A manager's head count becomes the new baseline; traffic after ``now`` adds to it."""
    now = as_utc(now)
    with engine.begin() as conn:
        zone = venue_zone(raw.venue_zones(conn).get(venue_id))
        conn.execute(delete(OCCUPANCY).where(OCCUPANCY.c.venue_id == venue_id))
        conn.execute(
            insert(OCCUPANCY),
            {
                "venue_id": venue_id,
                "count": max(0, count),
                "baseline_count": max(0, count),
                "baseline_at": now,
                "updated_at": now,
                "last_reconciled_at": now,
                "reconciled_by": by[:80],
            },
        )
        return refresh_venue(conn, venue_id, zone=zone, now=now, quiet_hour=quiet_hour)


def set_venue_settings(
    engine: Engine, venue_id: str, *, now: datetime, **values: int | float | None
) -> None:
    """Create or change a venue's capacity, quiet hour or open hours."""
    allowed = {"capacity", "quiet_hour", "open_hours_per_day"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown venue settings {sorted(unknown)}; known: {sorted(allowed)}")
    v = VENUE_SETTINGS.c
    with engine.begin() as conn:
        current = conn.execute(select(VENUE_SETTINGS).where(v.venue_id == venue_id)).one_or_none()
        row: dict[str, Any] = dict.fromkeys(allowed)
        if current is not None:
            row |= {name: getattr(current, name) for name in allowed}
        row |= values | {"venue_id": venue_id, "updated_at": as_utc(now)}
        conn.execute(delete(VENUE_SETTINGS).where(v.venue_id == venue_id))
        conn.execute(insert(VENUE_SETTINGS), row)


# A door whose clock runs a little ahead still counts in the live figure.
LIVE_CLOCK_SKEW: Final = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class LiveOccupancy:
    count: int  # people inside now
    visits_today: int  # accepted door decisions since ``day_start``
    as_of: datetime  # the ``now`` it was computed for (UTC)
    baseline: Baseline  # the reset or head count the count starts from


def _closed_hours(conn: Connection, venue_id: str, since: datetime) -> set[datetime]:
    """Hours whose traffic rollup ran after the hour had ended: complete but for late rows."""
    t = TRAFFIC_HOURLY.c
    rows = conn.execute(
        select(t.hour_utc, t.updated_at).where(t.venue_id == venue_id, t.hour_utc >= since)
    )
    return {as_utc(r.hour_utc) for r in rows if as_utc(r.updated_at) >= as_utc(r.hour_utc) + HOUR}


def live_occupancy(
    conn: Connection,
    venue_id: str,
    *,
    zone: ZoneInfo,
    now: datetime,
    quiet_hour: int | None,
    day_start: datetime | None = None,
) -> LiveOccupancy:
    """People inside now and today's visits, from rollups and the raw rows after them.

    The one source of the live count: the dashboard and ``GET …/occupancy`` both call it,
    so they cannot disagree. ``day_start`` (default: local midnight in ``zone``) starts
    ``visits_today``.

    The same walk as :func:`refresh_venue` (baseline, then each hour's net), except that
    every hour no rollup has closed yet (the current one, and the last one just after the
    hour turns) is counted from the raw rows stored so far. Each row is counted once: a
    closed hour by its rollup, an open one raw. Nothing is written; the scheduled refresh
    stays the reconciler (late rows, a manager's head count), and a dashboard shows a member
    walking in within a second rather than a rollup later.
    """
    now = as_utc(now)
    day_start = (
        day_bounds(local_date(now, zone), zone)[0] if day_start is None else as_utc(day_start)
    )
    baseline = _venue_baseline(conn, venue_id, zone=zone, now=now, quiet_hour=quiet_hour)
    hour = floor_hour(now)
    nets = _nets(conn, venue_id, baseline, now)
    closed = _closed_hours(conn, venue_id, min(nets[0][0], floor_hour(day_start)))
    open_from = next((h for h, _net in nets if h not in closed), hour)
    raw_from = min(open_from, floor_hour(day_start))
    until = now + LIVE_CLOCK_SKEW
    counters = raw.counters(conn, venue_id, raw_from, until)
    events = raw.door_events(conn, venue_id, raw_from, until)
    # A door clock a little ahead lands in this hour, not in one that has not begun.
    by_hour = count_traffic(
        [c for c in counters if c.ts >= max(open_from, baseline.at)],
        [e for e in events if e.ts >= max(open_from, baseline.at)],
        lambda ts: min(floor_hour(ts), hour),
    )
    walked = walk(
        baseline.count,
        [
            (h, by_hour[h].net() if h in by_hour else 0) if h >= open_from else (h, net)
            for h, net in nets
        ],
    )
    t = TRAFFIC_HOURLY.c
    rolled_visits = conn.execute(
        select(func.coalesce(func.sum(t.visits), 0)).where(
            t.venue_id == venue_id, t.hour_utc >= day_start, t.hour_utc < open_from
        )
    ).scalar_one()
    raw_visits = count_traffic(
        [], [e for e in events if e.ts >= max(open_from, day_start)], lambda _ts: 0
    ).get(0, TrafficCounts())
    return LiveOccupancy(
        count=walked[-1][1],
        visits_today=int(rolled_visits) + raw_visits.visits,
        as_of=now,
        baseline=baseline,
    )
