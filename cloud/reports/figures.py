"""What a report holds: one row of figures per venue, per day and in total, from the rollups.

Per-day visits, unique members, entries, open hours and energy are the docking figures
(:func:`cloud.aggregates.docking.daily_stats`, one call per day); peak occupancy comes from
``occupancy_hourly``; excursions, alert handling and redemptions from their own modules.
Only unique members over a week or a month need raw rows: distinct people are not a sum.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, and_, or_, select

from cloud.aggregates import raw
from cloud.aggregates.docking import daily_stats
from cloud.aggregates.models import OccupancyHourly, TrafficDaily
from cloud.aggregates.timezones import venue_zone
from cloud.aggregates.traffic import DECISION_EVENT
from cloud.core.lang import venue_name
from cloud.core.time import as_utc
from cloud.reports.excursions import Excursion, excursions
from cloud.reports.handling import Handling, alert_handling
from cloud.reports.period import Period
from cloud.reports.redemptions import Redeemed, redemptions
from cloud.reports.venues import ReportVenue

Scope = Literal["venue", "district"]
DayKey = tuple[str, str]  # venue id, ISO day


@dataclass(slots=True)
class Peak:
    count: int = 0
    at: datetime | None = None  # the local start of the hour it was reached in

    def offer(self, count: int, at: datetime) -> None:
        if self.at is None or count > self.count:
            self.count, self.at = count, at


@dataclass(slots=True)
class Figures:
    """The figures of one venue (or of all, for the totals) over one day or the period."""

    visits: int = 0
    unique_members: int = 0
    people_in: int = 0
    people_out: int = 0
    peak: Peak = field(default_factory=Peak)
    open_hours: float = 0.0
    energy_kwh: float | None = None  # None: no meter reported
    fridge_minutes: float = 0.0  # summed over the fridge probes
    heat_minutes: float = 0.0  # summed over the ambient probes
    alerts: Handling = field(default_factory=Handling)
    redeemed: Redeemed = field(default_factory=Redeemed)

    def add_energy(self, kwh: float | None) -> None:
        if kwh is not None:
            self.energy_kwh = round((self.energy_kwh or 0.0) + kwh, 3)


@dataclass(slots=True)
class VenueReport:
    venue: ReportVenue
    total: Figures
    days: dict[str, Figures]  # ISO day -> that day's figures
    excursions: list[Excursion]


@dataclass(slots=True)
class Report:
    scope: Scope
    name: str  # the venue's name or the district
    key: str  # the venue id or the district, for file names
    period: Period
    generated_at: datetime
    venues: list[VenueReport]
    total: Figures

    def display_name(self, lang: str) -> str:
        """The venue as the reader calls it (its English name in English), or the district."""
        if self.scope == "venue":
            return venue_name(self.venues[0].venue, "en" if lang == "en" else "zh-CN")
        return self.name


def _traffic(conn: Connection, ids: list[str], period: Period, rows: dict[DayKey, Figures]) -> None:
    for day in period.days():
        for entry in daily_stats(conn, day, venue_ids=frozenset(ids)):
            figures = rows[(entry.venue, entry.date)]
            figures.visits, figures.unique_members = entry.visits, entry.unique_members
            figures.people_in, figures.open_hours = entry.people_in, entry.open_hours
            figures.add_energy(entry.energy_kwh)
    # Exits: the one daily traffic figure the docking entry leaves out.
    t = raw.table(TrafficDaily).c
    for row in conn.execute(
        select(t.venue_id, t.local_date, t.people_out).where(
            t.venue_id.in_(ids), t.local_date >= period.first, t.local_date <= period.last
        )
    ):
        rows[(row.venue_id, row.local_date.isoformat())].people_out = row.people_out


def _peaks(
    conn: Connection, venues: Sequence[ReportVenue], period: Period, rows: dict[DayKey, Figures]
) -> dict[str, Peak]:
    h = raw.table(OccupancyHourly).c
    windows = {v.id: period.bounds(venue_zone(v.timezone)) for v in venues}
    query = select(h.venue_id, h.hour_utc, h["count"].label("people")).where(
        or_(
            *(
                and_(h.venue_id == venue_id, h.hour_utc >= start, h.hour_utc < end)
                for venue_id, (start, end) in windows.items()
            )
        )
    )
    zones = {v.id: venue_zone(v.timezone) for v in venues}
    peaks: dict[str, Peak] = defaultdict(Peak)
    for row in conn.execute(query.order_by(h.hour_utc)):
        at = as_utc(row.hour_utc).astimezone(zones[row.venue_id])
        rows[(row.venue_id, at.date().isoformat())].peak.offer(row.people, at)
        peaks[row.venue_id].offer(row.people, at)
    return peaks


def _unique_members(
    conn: Connection, venues: Sequence[ReportVenue], period: Period
) -> tuple[dict[str, int], int]:
    """Distinct members with an accepted decision over the period: per venue and in all."""
    e = raw.EVENT.c
    member = e.data["member"].as_string()
    windows = [
        and_(e.venue_id == v.id, e.ts >= start, e.ts < end)
        for v in venues
        for start, end in [period.bounds(venue_zone(v.timezone))]
    ]
    query = (
        select(e.venue_id, member)
        .where(
            e.type == DECISION_EVENT,
            e.data["reason"].as_string() == "accepted",
            member.is_not(None),
            or_(*windows),
        )
        .distinct()
    )
    per_venue: dict[str, set[str]] = defaultdict(set)
    for venue_id, member_id in conn.execute(query):
        if member_id:
            per_venue[venue_id].add(member_id)
    everyone = set().union(*per_venue.values()) if per_venue else set()
    return {k: len(v) for k, v in per_venue.items()}, len(everyone)


def _sum_days(total: Figures, days: dict[str, Figures]) -> None:
    for day in days.values():
        total.visits += day.visits
        total.people_in += day.people_in
        total.people_out += day.people_out
        total.open_hours += day.open_hours
        total.add_energy(day.energy_kwh)
        total.fridge_minutes += day.fridge_minutes
        total.heat_minutes += day.heat_minutes


@dataclass(frozen=True, slots=True)
class _Found:
    """What the per-venue queries found, for all venues at once."""

    rows: dict[DayKey, Figures]
    peaks: dict[str, Peak]
    uniques: dict[str, int]
    excursions: list[Excursion]
    handled: dict[str, dict[str, Handling]]
    redeemed: dict[str, dict[str, Redeemed]]


def _venue_report(venue: ReportVenue, period: Period, found: _Found) -> VenueReport:
    days = {d.isoformat(): found.rows[(venue.id, d.isoformat())] for d in period.days()}
    mine = [x for x in found.excursions if x.venue_id == venue.id]
    for x in mine:
        for day, minutes in x.minutes_by_day.items():
            if x.role == "fridge":
                days[day].fridge_minutes += minutes
            else:
                days[day].heat_minutes += minutes
    for day, handling in found.handled.get(venue.id, {}).items():
        days[day].alerts = handling
    for day, tally in found.redeemed.get(venue.id, {}).items():
        days[day].redeemed = tally
    total = Figures(
        unique_members=found.uniques.get(venue.id, 0), peak=found.peaks.get(venue.id, Peak())
    )
    _sum_days(total, days)
    total.alerts = Handling.combined(d.alerts for d in days.values())
    total.redeemed = Redeemed.combined(d.redeemed for d in days.values())
    return VenueReport(venue, total, days, mine)


def build_report(
    conn: Connection,
    venues: Sequence[ReportVenue],
    period: Period,
    *,
    scope: Scope,
    name: str,
    key: str,
    now: datetime,
) -> Report:
    """Every figure of ``venues`` (at least one) over ``period``, each on its own local days."""
    if not venues:
        raise ValueError("a report needs at least one venue")
    rows: dict[DayKey, Figures] = defaultdict(Figures)
    _traffic(conn, [v.id for v in venues], period, rows)
    peaks = _peaks(conn, venues, period, rows)
    uniques, unique_total = _unique_members(conn, venues, period)
    found = _Found(
        rows,
        peaks,
        uniques,
        excursions(conn, venues, period),
        alert_handling(conn, venues, period),
        redemptions(conn, venues, period),
    )
    reports = [_venue_report(venue, period, found) for venue in venues]
    return Report(scope, name, key, period, as_utc(now), reports, _totals(reports, unique_total))


def _totals(reports: Sequence[VenueReport], unique_members: int) -> Figures:
    total = Figures(unique_members=unique_members)
    for report in reports:
        _sum_days(total, {"all": report.total})
        if report.total.peak.at is not None:
            total.peak.offer(report.total.peak.count, report.total.peak.at)
    total.alerts = Handling.combined(r.total.alerts for r in reports)
    total.redeemed = Redeemed.combined(r.total.redeemed for r in reports)
    return total
