"""The rows of each export over local days ``first`` to ``last``: who sees what is decided
by the functions the API's own routes call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select
from sqlmodel import Session

from cloud.access.events import AccessFilter, access_events
from cloud.aggregates import views
from cloud.aggregates.timezones import day_bounds, venue_zone
from cloud.aggregates.views import Resolution, Window
from cloud.auth.principal import Principal
from cloud.core.lang import Lang as WebLang
from cloud.core.lang import venue_name
from cloud.core.time import as_utc
from cloud.models import Venue
from cloud.reports.exports import Sheet
from cloud.reports.handling import ALERT
from cloud.reports.period import PeriodError, parse_day
from cloud.reports.tables import Cell, Format
from cloud.reports.words import Lang

# An export is one answer: past this many rows, ask for a shorter range.
MAX_ROWS: Final = 100_000
ACCESS_COLUMNS: Final[tuple[tuple[str, Format], ...]] = (
    ("time", "hour"),
    ("venue", "text"),
    ("device", "text"),
    ("door", "text"),
    ("reason", "text"),
    ("member", "text"),
    ("detail", "text"),
)


@dataclass(frozen=True, slots=True)
class DateRange:
    first: date
    last: date

    def window(self, zone: ZoneInfo) -> Window:
        return Window(day_bounds(self.first, zone)[0], day_bounds(self.last, zone)[1])

    @property
    def slug(self) -> str:
        return f"{self.first.isoformat()}_{self.last.isoformat()}"


def parse_range(first: str | None, last: str | None, *, today: date, max_days: int) -> DateRange:
    """``from``..``to`` inclusive (default: the 7 days to today; a ``to`` past today is
    today), at most ``max_days`` long."""
    end = min(parse_day("to", last, today=today), today) if last else today
    start = parse_day("from", first, today=today) if first else end - timedelta(days=6)
    if start > today:
        raise PeriodError(
            "future_period", f"from ({start.isoformat()}) is after today ({today.isoformat()})"
        )
    if end < start:
        raise PeriodError(
            "bad_range", f"to ({end.isoformat()}) is before from ({start.isoformat()}); swap them"
        )
    if (end - start).days + 1 > max_days:
        raise PeriodError(
            "range_too_long",
            f"{(end - start).days + 1} days is more than the {max_days} this export allows; "
            "export a shorter range, or several",
        )
    return DateRange(start, end)


def _lang(lang: Lang) -> WebLang:
    return "en" if lang == "en" else "zh-CN"


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if value is None else as_utc(value).astimezone(zone).replace(tzinfo=None)


def access_event_rows(
    session: Session,
    principal: Principal,
    *,
    venues: Mapping[str, Venue],
    venue_id: str | None,
    window: Window,
    pseudonym_key: bytes,
    lang: Lang,
) -> Sheet:
    """Door decisions, newest first; member ids pseudonymised as the API does for ``principal``."""
    found = access_events(
        session=session,
        principal=principal,
        wanted=AccessFilter(window.since, window.until, venue_id=venue_id),
        pseudonym_key=pseudonym_key,
        limit=MAX_ROWS + 1,
    )
    if len(found.data) > MAX_ROWS:
        raise PeriodError("too_many_rows", f"more than {MAX_ROWS} decisions; export fewer days")
    rows: list[list[Cell]] = []
    for e in found.data:
        venue = venues.get(e.venue_id)
        zone = venue_zone(venue.timezone if venue else None)
        name = venue_name(venue, _lang(lang), fallback=e.venue_id)
        rows.append([_local(e.ts, zone), name, e.device_id, e.door, e.reason, e.member, e.detail])
    return Sheet("access_events", ACCESS_COLUMNS, rows)


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((as_utc(end) - as_utc(start)).total_seconds() / 60, 1)


ALERT_COLUMNS: Final[tuple[tuple[str, Format], ...]] = (
    ("id", "int"),
    ("venue", "text"),
    ("kind", "text"),
    ("severity", "text"),
    ("status", "text"),
    ("opened", "hour"),
    ("acknowledged", "hour"),
    ("acknowledged_by", "text"),
    ("ack_minutes", "dec1"),
    ("resolved", "hour"),
    ("resolved_by", "text"),
    ("resolve_minutes", "dec1"),
    ("message", "text"),
    ("ack_note", "text"),
    ("resolve_note", "text"),
)


def _alert_row(r: Any, venue: Venue, lang: Lang) -> list[Cell]:
    zone = venue_zone(venue.timezone)
    return [
        r.id,
        venue_name(venue, _lang(lang)),
        r.kind,
        r.severity,
        r.status,
        _local(r.opened_at, zone),
        _local(r.acknowledged_at, zone),
        r.acknowledged_by,
        _minutes(r.opened_at, r.acknowledged_at),
        _local(r.resolved_at, zone),
        r.resolved_by,
        _minutes(r.opened_at, r.resolved_at),
        r.message_en if lang == "en" else r.message_zh,
        r.ack_note,
        r.resolve_note,
    ]


def alert_rows(
    conn: Connection, *, venues: Mapping[str, Venue], window: Window, lang: Lang
) -> Sheet:
    """Alerts opened in the window at ``venues``, oldest first, with how fast each was handled."""
    a = ALERT.c
    query = (
        select(ALERT)
        .where(
            a.venue_id.in_(list(venues)), a.opened_at >= window.since, a.opened_at < window.until
        )
        .order_by(a.opened_at, a.id)
        .limit(MAX_ROWS + 1)
    )
    found = conn.execute(query).all()
    if len(found) > MAX_ROWS:
        raise PeriodError("too_many_rows", f"more than {MAX_ROWS} alerts; export fewer days")
    return Sheet("alerts", ALERT_COLUMNS, [_alert_row(r, venues[r.venue_id], lang) for r in found])


def traffic_rows(conn: Connection, venue: Venue, window: Window, resolution: Resolution) -> Sheet:
    """People in/out (beam), visits and unique members per hour or per local day."""
    _, data = views.traffic(conn, venue, window, resolution, limit=MAX_ROWS, offset=0)
    figures = ["people_in", "people_out", "visits", "unique_members"]
    if resolution == "day":
        rows: list[list[Cell]] = [
            [date.fromisoformat(d["date"]), *(d[k] for k in figures)] for d in data
        ]
        first: tuple[str, Format] = ("date", "date")
    else:
        rows = [
            [datetime.fromisoformat(d["local"]).replace(tzinfo=None), *(d[k] for k in figures)]
            for d in data
        ]
        first = ("time", "hour")
    name = "traffic_day" if resolution == "day" else "traffic_hour"
    return Sheet(name, [first, *((k, "int") for k in figures)], rows)


def temperature_rows(conn: Connection, venue: Venue, window: Window) -> Sheet:
    """min/avg/max per hour and probe."""
    _, data = views.temperature(conn, venue, window, None, limit=MAX_ROWS, offset=0)
    rows: list[list[Cell]] = [
        [
            datetime.fromisoformat(d["local"]).replace(tzinfo=None),
            d["device_id"],
            d["sensor"],
            d["min_c"],
            d["avg_c"],
            d["max_c"],
            d["count"],
        ]
        for d in data
    ]
    columns: list[tuple[str, Format]] = [
        ("time", "hour"),
        ("device", "text"),
        ("sensor", "text"),
        ("min_c", "dec1"),
        ("avg_c", "dec1"),
        ("max_c", "dec1"),
        ("samples", "int"),
    ]
    return Sheet("temperature_hour", columns, rows)
