"""Is a door open at an instant: the weekly hours and exceptions, read in the door's zone.

Instants are compared as aware datetimes (UTC in storage); only the schedule lookup converts
to the door's local wall clock, so a box whose system zone is UTC still opens a Shanghai door
at 07:00 Shanghai time. A zone with daylight saving is read by its wall clock: an hour the
clocks skip never happens, and a repeated hour is open or closed both times.

Which day's rules apply at local date ``D``:

* ranges that start on ``D``, from the exception for ``D`` if there is one, else from every
  weekly line that lists ``D``'s weekday;
* plus the after-midnight tail of ``D-1``'s overnight ranges (``fri 22:00-06:00`` is open
  until Saturday 06:00), unless ``D`` is an exception date: an exception owns its whole
  calendar day, so "closed on 2025-01-28" is closed from its first minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from protocol.door_policy import DoorPolicyConfig, TimeRange


@dataclass(frozen=True, slots=True)
class Status:
    """The answer, with what a log line needs to explain it."""

    open: bool
    local: datetime  # the instant on the door's wall clock
    note: str = ""  # the exception's note when one applies

    def describe(self) -> str:
        when = self.local.strftime("%a %Y-%m-%d %H:%M")
        zone = self.local.tzinfo
        text = f"{'open' if self.open else 'closed'} at {when} {zone}"
        return f"{text} ({self.note})" if self.note else text


class Schedule:
    """A door's opening hours, built once from its validated config."""

    def __init__(self, config: DoorPolicyConfig) -> None:
        self._zone = ZoneInfo(config.timezone)
        self._weekly: dict[int, list[TimeRange]] = {day: [] for day in range(7)}
        for line in config.hours:
            for day in line.days:
                self._weekly[day].extend(line.ranges)
        self._exceptions: dict[date, tuple[tuple[TimeRange, ...], str]] = {}
        for exception in config.exceptions:
            for when in exception.days():
                self._exceptions[when] = (exception.hours, exception.note)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    def _ranges(self, day: date) -> tuple[TimeRange, ...] | list[TimeRange]:
        special = self._exceptions.get(day)
        return special[0] if special is not None else self._weekly[day.weekday()]

    def status(self, at: datetime) -> Status:
        """Open or closed at ``at`` (aware; any zone)."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"{at!r} has no time zone; pass an aware datetime (UTC)")
        local = at.astimezone(self._zone)
        day = local.date()
        # Seconds, so 21:59:59.9 is still open for a range ending at 22:00.
        second = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        note = self._exceptions[day][1] if day in self._exceptions else ""
        for span in self._ranges(day):
            end = 24 * 3600 if span.overnight else span.end * 60
            if span.start * 60 <= second < end:
                return Status(open=True, local=local, note=note)
        if day not in self._exceptions:
            for span in self._ranges(day - timedelta(days=1)):
                if span.overnight and second < span.end * 60:
                    return Status(open=True, local=local, note=note)
        return Status(open=False, local=local, note=note)

    def is_open(self, at: datetime) -> bool:
        return self.status(at).open

    def hours_on(self, at: datetime) -> str | None:
        """The day's opening hours at ``at`` on the door's wall clock, as a door shows them
        ("08:00-12:00, 14:00-22:00"); None when open all day, "" when closed all day."""
        ranges = self._ranges(at.astimezone(self._zone).date())
        if any(span.start == 0 and span.end in (0, 24 * 60) for span in ranges):
            return None
        return ", ".join(str(span) for span in ranges)
