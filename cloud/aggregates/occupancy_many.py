"""Live occupancy of many venues at once: ``occupancy.live_occupancy``'s walk, fed by five
grouped queries over all of them instead of about seven queries per venue.

The overview shows 50 venues a page and the wall screen all of a district; one round trip
per query per venue made the overview 11-19 times as slow as the bare venue list on
PostgreSQL. The rows are read once for every venue, then each venue is walked in Python
exactly as :func:`cloud.aggregates.occupancy.live_occupancy` walks it (a test holds the
two equal), so the figures cannot disagree with ``GET …/occupancy``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, or_, select

from cloud.aggregates import raw
from cloud.aggregates.occupancy import (
    LIVE_CLOCK_SKEW,
    OCCUPANCY,
    TRAFFIC_HOURLY,
    VENUE_SETTINGS,
    Baseline,
    pick_baseline,
    walk,
)
from cloud.aggregates.timezones import HOUR, day_bounds, floor_hour, local_date
from cloud.aggregates.traffic import (
    COUNTER_METRICS,
    DECISION_EVENT,
    DOOR_OPENED_EVENT,
    CounterSample,
    DoorEvent,
    TrafficCounts,
    count_traffic,
)
from cloud.core.time import as_utc


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """One venue's live figures: what ``live_occupancy`` answers, and the beam's entries."""

    count: int  # people inside now
    visits_today: int  # admitted at the door since local midnight
    entries_today: int  # people the beam counter saw come in since local midnight
    baseline: Baseline


@dataclass(frozen=True, slots=True)
class _Venue:
    """What one venue's walk needs, before the raw rows are read."""

    id: str
    baseline: Baseline
    day_start: datetime
    nets: list[tuple[datetime, int]]  # every hour from the baseline's to now's
    open_from: datetime  # the first hour no rollup has closed
    hourly: list[Any]


def _by_venue(rows: Iterable[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.venue_id].append(row)
    return grouped


def _hour_net(row: Any) -> int:
    return TrafficCounts(
        people_in=row.people_in,
        people_out=row.people_out,
        counter_readings=row.counter_readings,
        visits=row.visits,
        door_exits=row.door_exits,
    ).net()


def _nets(
    venue: str, baseline: Baseline, now: datetime, hourly: list[Any], raw_rows: _Raw
) -> list[tuple[datetime, int]]:
    """``occupancy._nets`` from rows already read (the partial first hour comes later)."""
    first, last = floor_hour(baseline.at), floor_hour(now)
    full_from = first + HOUR if baseline.at > first else first
    nets = {
        as_utc(r.hour_utc): _hour_net(r) for r in hourly if full_from <= as_utc(r.hour_utc) <= last
    }
    if baseline.at > first:
        partial = raw_rows.count(venue, baseline.at, first + HOUR)
        nets[first] = partial.net()
    hour, ordered = first, []
    while hour <= last:
        ordered.append((hour, nets.get(hour, 0)))
        hour += HOUR
    return ordered


@dataclass(slots=True)
class _Raw:
    """Counter readings and door events of every venue since the earliest hour any needs."""

    counters: dict[str, list[CounterSample]]
    events: dict[str, list[DoorEvent]]

    def count(self, venue: str, since: datetime, until: datetime) -> TrafficCounts:
        """The venue's traffic in ``[since, until)`` as one bucket."""
        totals = count_traffic(
            [c for c in self.counters.get(venue, ()) if since <= c.ts < until],
            [e for e in self.events.get(venue, ()) if since <= e.ts < until],
            lambda _ts: 0,
        )
        return totals.get(0, TrafficCounts())


def _read_raw(conn: Connection, ids: Sequence[str], since: datetime, until: datetime) -> _Raw:
    r, e = raw.READING.c, raw.EVENT.c
    counters: dict[str, list[CounterSample]] = defaultdict(list)
    for row in conn.execute(
        select(r.venue_id, r.ts, r.metric, r.value).where(
            r.venue_id.in_(ids), r.metric.in_(COUNTER_METRICS), r.ts >= since, r.ts < until
        )
    ):
        counters[row.venue_id].append(CounterSample(as_utc(row.ts), row.metric, row.value))
    events: dict[str, list[DoorEvent]] = defaultdict(list)
    # Only what counts (an admission, an exit-button opening), and only the two fields that
    # say so: decoding every refused decision's whole JSON was most of the overview's time.
    reason, cause = e.data["reason"].as_string(), e.data["cause"].as_string()
    counted = or_(
        and_(e.type == DECISION_EVENT, reason == "accepted"),
        and_(e.type == DOOR_OPENED_EVENT, cause == "exit_button"),
    )
    for found in conn.execute(
        select(e.venue_id, e.ts, e.type, reason.label("reason"), cause.label("cause")).where(
            e.venue_id.in_(ids), counted, e.ts >= since, e.ts < until
        )
    ):
        data = {"reason": found.reason, "cause": found.cause}
        events[found.venue_id].append(DoorEvent(as_utc(found.ts), found.type, data))
    return _Raw(dict(counters), dict(events))


def _closed(hourly: list[Any], since: datetime) -> set[datetime]:
    return {
        as_utc(r.hour_utc)
        for r in hourly
        if as_utc(r.hour_utc) >= since and as_utc(r.updated_at) >= as_utc(r.hour_utc) + HOUR
    }


def _figures(v: _Venue, raw_rows: _Raw, now: datetime) -> LiveFigures:
    """``live_occupancy``'s walk of one venue, plus the beam's entries today."""
    hour, until = floor_hour(now), now + LIVE_CLOCK_SKEW
    counted_from = max(v.open_from, v.baseline.at)
    by_hour = count_traffic(
        [c for c in raw_rows.counters.get(v.id, ()) if counted_from <= c.ts < until],
        [e for e in raw_rows.events.get(v.id, ()) if counted_from <= e.ts < until],
        lambda ts: min(floor_hour(ts), hour),
    )
    walked = walk(
        v.baseline.count,
        [
            (h, by_hour[h].net() if h in by_hour else 0) if h >= v.open_from else (h, net)
            for h, net in v.nets
        ],
    )
    rolled = [r for r in v.hourly if v.day_start <= as_utc(r.hour_utc) < v.open_from]
    today = raw_rows.count(v.id, max(v.open_from, v.day_start), until)
    return LiveFigures(
        count=walked[-1][1],
        visits_today=sum(r.visits for r in rolled) + today.visits,
        entries_today=sum(r.people_in for r in rolled) + today.people_in,
        baseline=v.baseline,
    )


def live_figures(
    conn: Connection, zones: dict[str, ZoneInfo], *, now: datetime, quiet_hour: int | None
) -> dict[str, LiveFigures]:
    """Live figures of each venue in ``zones`` (venue id -> its zone); today starts at each
    venue's local midnight, as ``live_occupancy``'s default ``day_start``."""
    ids = sorted(zones)
    if not ids:
        return {}
    now = as_utc(now)
    stored = {
        r.venue_id: r for r in conn.execute(OCCUPANCY.select().where(OCCUPANCY.c.venue_id.in_(ids)))
    }
    s = VENUE_SETTINGS.c
    query = select(s.venue_id, s.quiet_hour).where(s.venue_id.in_(ids))
    own_quiet = {row.venue_id: row.quiet_hour for row in conn.execute(query)}
    baselines, day_starts = {}, {}
    for venue in ids:
        own = own_quiet.get(venue)
        baselines[venue] = pick_baseline(
            stored.get(venue),
            zone=zones[venue],
            now=now,
            quiet_hour=quiet_hour if own is None else own,
        )
        day_starts[venue] = day_bounds(local_date(now, zones[venue]), zones[venue])[0]
    earliest = min(min(floor_hour(baselines[v].at), floor_hour(day_starts[v])) for v in ids)
    t = TRAFFIC_HOURLY.c
    hourly = _by_venue(
        conn.execute(
            TRAFFIC_HOURLY.select().where(
                t.venue_id.in_(ids), t.hour_utc >= earliest, t.hour_utc <= floor_hour(now)
            )
        )
    )
    return _walk_all(conn, ids, baselines, day_starts, hourly, now=now)


def _walk_all(
    conn: Connection,
    ids: list[str],
    baselines: dict[str, Baseline],
    day_starts: dict[str, datetime],
    hourly: dict[str, list[Any]],
    *,
    now: datetime,
) -> dict[str, LiveFigures]:
    hour = floor_hour(now)
    # Raw rows are needed from each venue's first open hour (or its baseline, when that fell
    # inside an hour): one read from the earliest such instant serves every venue.
    pre: dict[str, tuple[datetime, datetime]] = {}
    for venue in ids:
        baseline, rows = baselines[venue], hourly.get(venue, [])
        first = floor_hour(baseline.at)
        closed = _closed(rows, min(first, floor_hour(day_starts[venue])))
        open_from = next((h for h in _hours(first, hour) if h not in closed), hour)
        pre[venue] = (open_from, min(open_from, baseline.at))
    raw_rows = _read_raw(conn, ids, min(lo for _o, lo in pre.values()), hour + 2 * HOUR)
    out = {}
    for venue in ids:
        baseline, rows = baselines[venue], hourly.get(venue, [])
        prepared = _Venue(
            id=venue,
            baseline=baseline,
            day_start=day_starts[venue],
            nets=_nets(venue, baseline, now, rows, raw_rows),
            open_from=pre[venue][0],
            hourly=rows,
        )
        out[venue] = _figures(prepared, raw_rows, now)
    return out


def _hours(first: datetime, last: datetime) -> list[datetime]:
    hours, hour = [], first
    while hour <= last:
        hours.append(hour)
        hour += HOUR
    return hours
