"""The station finder: venues near a worker, open or not, how full, what they offer.

One query for the venues, one for their live counts and capacities, whatever the number of
stations: the count is the one the rollups keep (``occupancy``, refreshed every minute),
not :func:`cloud.aggregates.occupancy.live_occupancy`, which walks a venue's raw rows and
would cost a district of 500 stations 500 walks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Final

from sqlmodel import Session, col, select

from cloud.aggregates.models import Occupancy, VenueSettings
from cloud.aggregates.timezones import venue_zone
from cloud.core.time import as_utc
from cloud.models import Venue
from protocol.door_policy import WeeklyHours, parse_weekly

_EARTH_RADIUS_M: Final = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine): a street's length off at most, never a district."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


@lru_cache(maxsize=4096)
def _weekly(line: str) -> WeeklyHours:
    """A stored hours line, parsed once per process: a district's list asks for hundreds."""
    return parse_weekly(line)


def open_now(lines: Sequence[str], zone_name: str, now: datetime) -> bool:
    """Whether the venue's weekly hours hold ``now`` (none: open 24 hours)."""
    if not lines:
        return True
    local = as_utc(now).astimezone(venue_zone(zone_name))
    minute = local.hour * 60 + local.minute
    weekday = local.weekday()
    for line in lines:
        weekly = _weekly(line)
        for span in weekly.ranges:
            if weekday in weekly.days and span.start <= minute < (
                24 * 60 if span.overnight else span.end
            ):
                return True
            # Past midnight, from a range that began yesterday.
            if span.overnight and (weekday - 1) % 7 in weekly.days and minute < span.end:
                return True
    return False


@dataclass(frozen=True, slots=True)
class Station:
    venue: Venue
    distance_m: float | None
    open_now: bool
    people: int | None  # inside now (as of the last rollup); None before the first
    capacity: int | None

    @property
    def full(self) -> bool:
        return (
            self.capacity is not None and self.people is not None and self.people >= self.capacity
        )


def stations(
    session: Session,
    *,
    now: datetime,
    near: tuple[float, float] | None = None,
    district: str | None = None,
    limit: int = 50,
) -> list[Station]:
    """Venues nearest first (with ``near``), else by district and name; at most ``limit``."""
    query = select(Venue)
    if district:
        query = query.where(col(Venue.district) == district)
    venues = list(session.exec(query))
    ids = [v.id for v in venues]
    people = dict(
        session.exec(
            select(Occupancy.venue_id, Occupancy.count).where(col(Occupancy.venue_id).in_(ids))
        ).all()
    )
    capacity = dict(
        session.exec(
            select(VenueSettings.venue_id, VenueSettings.capacity).where(
                col(VenueSettings.venue_id).in_(ids)
            )
        ).all()
    )
    found = []
    for venue in venues:
        far = None
        if near is not None and venue.latitude is not None and venue.longitude is not None:
            far = distance_m(near[0], near[1], venue.latitude, venue.longitude)
        found.append(
            Station(
                venue=venue,
                distance_m=far,
                open_now=open_now(venue.hours, venue.timezone, now),
                people=people.get(venue.id),
                capacity=capacity.get(venue.id),
            )
        )
    if near is not None:
        found.sort(key=lambda s: (s.distance_m is None, s.distance_m or 0.0, s.venue.name))
    else:
        found.sort(key=lambda s: (s.venue.district or "", s.venue.name))
    return found[:limit]


def districts(session: Session) -> list[str]:
    rows = session.exec(select(Venue.district).where(col(Venue.district).is_not(None)).distinct())
    return sorted(d for d in rows if d)


_DAY_NAMES: Final = {
    "zh-CN": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def _days_words(days: frozenset[int], lang: str) -> str:
    names = _DAY_NAMES["en" if lang == "en" else "zh-CN"]
    if len(days) == 7:
        return "Daily" if lang == "en" else "每天"
    ordered = sorted(days)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        joiner = "–" if lang == "en" else "至"
        return f"{names[ordered[0]]}{joiner}{names[ordered[-1]]}"
    return (", " if lang == "en" else "、").join(names[d] for d in ordered)


def hours_words(lines: Sequence[str], lang: str) -> list[str]:
    """A venue's hours as a worker reads them: ``"daily 09:00-21:00"`` → ``"每天 09:00–21:00"``."""
    words = []
    for line in lines:
        weekly = _weekly(line)
        spans = ", ".join(str(span).replace("-", "–") for span in weekly.ranges)
        words.append(f"{_days_words(weekly.days, lang)} {spans}")
    return words
