"""A report's period: one local day, a Monday-to-Sunday week or a calendar month."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal, get_args
from zoneinfo import ZoneInfo

from cloud.aggregates.timezones import day_bounds

PeriodKind = Literal["day", "week", "month"]
# No venue reported before this; a day far outside it is a typo (and year 1 or 9999 would
# leave the calendar when a zone or a month is added to it).
EARLIEST: Final = date(2000, 1, 1)
PERIOD_KINDS: Final[tuple[PeriodKind, ...]] = get_args(PeriodKind)


class PeriodError(ValueError):
    """A period a person asked for that cannot be reported; ``code`` is the API's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _month_after(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """Local calendar days ``first`` to ``last`` inclusive; each venue reads them in its zone."""

    kind: PeriodKind
    first: date
    last: date

    @classmethod
    def containing(cls, kind: PeriodKind, day: date) -> Period:
        if kind == "day":
            return cls(kind, day, day)
        if kind == "week":
            monday = day - timedelta(days=day.weekday())
            return cls(kind, monday, monday + timedelta(days=6))
        first = day.replace(day=1)
        return cls(kind, first, _month_after(first) - timedelta(days=1))

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        """The UTC half-open interval of the period in ``zone``."""
        return day_bounds(self.first, zone)[0], day_bounds(self.last, zone)[1]

    def previous(self) -> Period:
        return Period.containing(self.kind, self.first - timedelta(days=1))

    @property
    def slug(self) -> str:
        """For file names and send keys: 2026-11-30, 2026-W48, 2026-11."""
        if self.kind == "day":
            return self.first.isoformat()
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.first.year}-{self.first.month:02d}"

    def label(self, lang: str) -> str:
        """How a person reads the period: 2026年11月, 2026-11-23 – 2026-11-29 …"""
        if self.kind == "month":
            if lang == "en":
                return self.first.strftime("%B %Y")
            return f"{self.first.year}年{self.first.month}月"
        if self.kind == "week":
            return f"{self.first.isoformat()} – {self.last.isoformat()}"
        return self.first.isoformat()


def parse_day(field: str, raw: str, *, today: date) -> date:
    """``raw`` as a day between EARLIEST and a year after ``today``, or a PeriodError."""
    try:
        chosen = date.fromisoformat(raw)
    except ValueError:
        raise PeriodError(
            "bad_date", f"{field} {raw[:20]!r} is not a day; write YYYY-MM-DD, e.g. 2026-11-30"
        ) from None
    if chosen < EARLIEST:
        raise PeriodError("bad_date", f"{field} {raw} is before {EARLIEST.year}; check the year")
    if chosen > today + timedelta(days=366):
        raise PeriodError("future_period", f"{field} {raw} is more than a year ahead")
    return chosen


def parse_period(kind: str, day: str | None, *, today: date) -> Period:
    """The period of ``kind`` holding ``day`` (default: the last whole one before ``today``);
    a period that has not begun by ``today`` is refused."""
    if kind not in PERIOD_KINDS:
        raise PeriodError(
            "unknown_period", f"period {kind[:20]!r} is not one of: {', '.join(PERIOD_KINDS)}"
        )
    checked: PeriodKind = kind
    if day is None:
        return Period.containing(checked, today).previous()
    chosen = parse_day("date", day, today=today)
    period = Period.containing(checked, chosen)
    if period.first > today:
        raise PeriodError(
            "future_period",
            f"the {kind} of {chosen.isoformat()} has not begun yet (today is "
            f"{today.isoformat()}); choose a date up to today",
        )
    return period
