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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, case, func, or_, select, union_all

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
    capacity: int | None = None  # the venue's setting, read in the same round trip


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
    if baseline.at > first:  # only what came after the head count, in its hour
        nets[first] = raw_rows.count(venue, (baseline.at, first + HOUR), last).net()
    hour, ordered = first, []
    while hour <= last:
        ordered.append((hour, nets.get(hour, 0)))
        hour += HOUR
    return ordered


Window = tuple[datetime, datetime]  # [since, until)


def _merge(into: TrafficCounts, more: TrafficCounts) -> None:
    into.people_in += more.people_in
    into.people_out += more.people_out
    into.counter_readings += more.counter_readings
    into.visits += more.visits
    into.door_exits += more.door_exits


def _counted_events() -> Any:
    """Door events that move a count (an admission, an exit-button opening), told apart by
    two JSON fields: the rest of each event's JSON is never read."""
    e = raw.EVENT.c
    reason, cause = e.data["reason"].as_string(), e.data["cause"].as_string()
    return or_(
        and_(e.type == DECISION_EVENT, reason == "accepted"),
        and_(e.type == DOOR_OPENED_EVENT, cause == "exit_button"),
    )


def _add(counts: TrafficCounts, what: str, n: int, amount: Any) -> None:
    if what in COUNTER_METRICS:
        counts.counter_readings += n
        if what == "people_in":
            counts.people_in += round(amount or 0)
        else:
            counts.people_out += round(amount or 0)
    elif what == DECISION_EVENT:
        counts.visits += n
    else:
        counts.door_exits += n


@dataclass(slots=True)
class _Raw:
    """Every venue's raw traffic summed by the database per UTC hour (rows before
    ``until``), and, for the rare window starting inside an hour (a manager's head count),
    that hour's rows counted exactly. A busy hour at 50 venues is thousands of rows and
    only a few dozen sums."""

    conn: Connection
    hours: dict[str, dict[datetime, TrafficCounts]]
    until: datetime
    _exact: dict[tuple[str, datetime, datetime], TrafficCounts] = field(default_factory=dict)

    def _inside_hour(self, venue: str, since: datetime, until: datetime) -> TrafficCounts:
        """Exactly the rows in ``[since, until)``, all inside one hour, read one by one."""
        key = (venue, since, until)
        if key not in self._exact:
            found = count_traffic(
                raw.counters(self.conn, venue, since, until),
                raw.door_events(self.conn, venue, since, until),
                lambda _ts: 0,
            )
            self._exact[key] = found.get(0, TrafficCounts())
        return self._exact[key]

    def by_hour(self, venue: str, window: Window, last: datetime) -> dict[datetime, TrafficCounts]:
        """The window's counts per hour; a row stamped past ``last`` (a door clock a little
        ahead) counts in ``last``. Only windows ending at ``until``, or inside one hour."""
        since, until = window
        out: dict[datetime, TrafficCounts] = {}
        if since >= until:
            return out
        first = floor_hour(since)
        whole_from = first if since == first else first + HOUR
        if since != first:
            end = min(first + HOUR, until)
            _merge(out.setdefault(first, TrafficCounts()), self._inside_hour(venue, since, end))
        if until == self.until:
            for hour, counts in self.hours.get(venue, {}).items():
                if hour >= whole_from:
                    _merge(out.setdefault(min(hour, last), TrafficCounts()), counts)
        return out

    def count(self, venue: str, window: Window, last: datetime) -> TrafficCounts:
        total = TrafficCounts()
        for counts in self.by_hour(venue, window, last).values():
            _merge(total, counts)
        return total


def _read_raw(conn: Connection, ids: Sequence[str], hours: list[datetime], until: datetime) -> _Raw:
    """One grouped query: counters and counted door events per venue, hour and kind."""
    r, e = raw.READING.c, raw.EVENT.c
    parts = []
    for cols, kind, total, which in (
        (r, r.metric, func.sum(func.round(r.value)), r.metric.in_(COUNTER_METRICS)),
        (e, e.type, func.count(), _counted_events()),
    ):
        # Hours by comparison, not by a date function: the same SQL on both databases.
        hour = case(*((cols.ts < h, i) for i, h in enumerate(hours[1:])), else_=len(hours) - 1)
        parts.append(
            select(cols.venue_id, hour.label("hour"), kind.label("kind"), func.count(), total)
            .where(cols.venue_id.in_(ids), which, cols.ts >= hours[0], cols.ts < until)
            .group_by(cols.venue_id, hour, kind)
        )
    found: dict[str, dict[datetime, TrafficCounts]] = defaultdict(dict)
    for venue, index, what, n, amount in conn.execute(union_all(*parts)):
        _add(found[venue].setdefault(hours[index], TrafficCounts()), what, n, amount)
    return _Raw(conn, dict(found), until)


def _closed(hourly: list[Any], since: datetime) -> set[datetime]:
    return {
        as_utc(r.hour_utc)
        for r in hourly
        if as_utc(r.hour_utc) >= since and as_utc(r.updated_at) >= as_utc(r.hour_utc) + HOUR
    }


def _figures(v: _Venue, raw_rows: _Raw, now: datetime) -> LiveFigures:
    """``live_occupancy``'s walk of one venue, plus the beam's entries today."""
    last, until = floor_hour(now), now + LIVE_CLOCK_SKEW
    by_hour = raw_rows.by_hour(v.id, (max(v.open_from, v.baseline.at), until), last)
    walked = walk(
        v.baseline.count,
        [
            (h, by_hour[h].net() if h in by_hour else 0) if h >= v.open_from else (h, net)
            for h, net in v.nets
        ],
    )
    rolled = [r for r in v.hourly if v.day_start <= as_utc(r.hour_utc) < v.open_from]
    today = raw_rows.count(v.id, (max(v.open_from, v.day_start), until), last)
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
    o, s, v = OCCUPANCY.c, VENUE_SETTINGS.c, raw.VENUE.c
    # Each venue's stored baseline and its own settings in one round trip.
    query = (
        select(
            v.id,
            o.baseline_count,
            o.baseline_at,
            o.last_reconciled_at,
            o.reconciled_by,
            s.quiet_hour,
            s.capacity,
        )
        .select_from(
            raw.VENUE.outerjoin(OCCUPANCY, o.venue_id == v.id).outerjoin(
                VENUE_SETTINGS, s.venue_id == v.id
            )
        )
        .where(v.id.in_(ids))
    )
    baselines, day_starts, capacity = {}, {}, {}
    for row in conn.execute(query):
        venue = row.id
        baselines[venue] = pick_baseline(
            None if row.baseline_at is None else row,
            zone=zones[venue],
            now=now,
            quiet_hour=quiet_hour if row.quiet_hour is None else row.quiet_hour,
        )
        day_starts[venue] = day_bounds(local_date(now, zones[venue]), zones[venue])[0]
        capacity[venue] = row.capacity
    ids = [venue for venue in ids if venue in baselines]  # a venue deleted meanwhile
    if not ids:
        return {}
    earliest = min(min(floor_hour(baselines[v].at), floor_hour(day_starts[v])) for v in ids)
    t = TRAFFIC_HOURLY.c
    hourly = _by_venue(
        conn.execute(
            TRAFFIC_HOURLY.select().where(
                t.venue_id.in_(ids), t.hour_utc >= earliest, t.hour_utc <= floor_hour(now)
            )
        )
    )
    walked = _walk_all(conn, ids, baselines, day_starts, hourly, now=now)
    return {venue: replace(f, capacity=capacity[venue]) for venue, f in walked.items()}


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
    # Every window a walk reads starts at a venue's first open hour, its baseline or its
    # day: one grouped read from the earliest of them serves every venue.
    earliest = min(
        floor_hour(min(open_from, baselines[v].at, day_starts[v]))
        for v, (open_from, _lo) in pre.items()
    )
    raw_rows = _read_raw(conn, ids, _hours(earliest, hour + HOUR), now + LIVE_CLOCK_SKEW)
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
