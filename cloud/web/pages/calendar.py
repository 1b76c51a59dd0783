"""The booking pages' days and weeks: a venue's local calendar days as UTC ranges, and how
a member is named to the person looking (an id for an admin, a pseudonym for a manager)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from cloud.aggregates.timezones import day_bounds, local_date
from cloud.auth.principal import Principal
from cloud.auth.pseudonym import member_names as names_for
from cloud.core.time import as_utc

View = Literal["day", "week"]
VIEWS: Final[tuple[View, ...]] = ("day", "week")
WEEK: Final = 7
# How far from today a page may be asked to look: enough for any season's history and the
# furthest a room can be booked ahead (90 days), and no date near the calendar's ends.
REACH: Final = timedelta(days=3 * 366)


@dataclass(frozen=True, slots=True)
class Span:
    """The local days a page shows (one, or a Monday-to-Sunday week) and their UTC range."""

    view: View
    day: date  # the day asked for; a week is the one holding it
    days: tuple[date, ...]
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive

    @property
    def step(self) -> timedelta:
        return timedelta(days=1 if self.view == "day" else WEEK)

    @property
    def previous(self) -> date:
        return self.day - self.step

    @property
    def following(self) -> date:
        return self.day + self.step

    def query(self, *, view: View | None = None, day: date | None = None) -> str:
        """The page's query string for another view or day."""
        return urlencode({"view": view or self.view, "day": (day or self.day).isoformat()})

    def export_url(self, venue_id: str, fmt: str) -> str:
        """The bookings API's file of exactly the days shown."""
        query = {"start": self.start.isoformat(), "end": self.end.isoformat(), "format": fmt}
        return f"/api/v1/venues/{venue_id}/bookings?{urlencode(query)}"


def within_reach(day: date | None, today: date) -> date:
    """``day``, or today when none was asked for or it is absurdly far from today."""
    if day is None or abs(day - today) > REACH:
        return today
    return day


def span(view: View, day: date, zone: ZoneInfo) -> Span:
    first = day if view == "day" else day - timedelta(days=day.weekday())
    days = tuple(first + timedelta(days=n) for n in range(1 if view == "day" else WEEK))
    return Span(view, day, days, day_bounds(days[0], zone)[0], day_bounds(days[-1], zone)[1])


def local_day(value: datetime, zone: ZoneInfo) -> date:
    return local_date(as_utc(value), zone)


def member_names(principal: Principal, key: bytes) -> Callable[[str], str]:
    """How members are named to ``principal``: managers see pseudonyms, as in the API."""
    return names_for(principal, key=key)
