"""One door's access policy as a technician writes it in TOML, validated with fix-it errors.

Opening hours are a list of strings, one line per group of days::

    hours = ["mon-fri 07:00-22:00", "sat,sun 09:00-12:00,14:00-18:00", "fri 22:00-06:00"]

* days: ``mon tue wed thu fri sat sun``, a range ``mon-fri`` (``fri-mon`` wraps over the
  weekend), several joined by commas ``sat,sun`` or ``mon-wed,fri``, or ``daily``;
* then one or more ``HH:MM-HH:MM`` ranges joined by commas. The start is included, the end
  is not; ``24:00`` ends a range at midnight. An end before the start runs past midnight into
  the next day (``22:00-06:00``), and belongs to the day it starts on.

Leaving ``hours`` out means open 24 hours, every day (the outdoor-worker station default).
Exceptions override whole local calendar days (holidays, Spring Festival)::

    [[exceptions]]
    date = 2025-01-28          # a TOML dt.date, or "2025-01-28"
    until = 2025-02-04         # optional, inclusive
    note = "Spring Festival"   # hours left out: closed all day

    [[exceptions]]
    date = 2025-02-05
    hours = ["09:00-14:00"]    # special hours: times only, no days
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from protocol.access import GUEST_GROUP
from protocol.ids import ID_PATTERN

DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
MINUTES_PER_DAY: Final = 24 * 60
# An exception longer than a year is a schedule, not an exception (and it bounds the lookup).
MAX_EXCEPTION_DAYS: Final = 366
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
_ID_RE = re.compile(ID_PATTERN)

Direction = Literal["in", "out", "both"]


def _error(message: str, **context: Any) -> PydanticCustomError:
    # Our messages are complete sentences already; "value_error" would prefix "Value error, ".
    return PydanticCustomError("policy_config", message, context)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes after local midnight: ``start`` included, ``end`` excluded (1..1440).

    ``end <= start`` means the range runs past midnight and ends at ``end`` the next day.
    """

    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    """One ``hours`` line: the weekdays (0 = Monday) and the ranges open on each of them."""

    days: frozenset[int]
    ranges: tuple[TimeRange, ...]
    text: str

    def __str__(self) -> str:
        return self.text


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_time(text: str, *, end: bool) -> int:
    match = _TIME_RE.fullmatch(text.strip())
    minutes = int(match[1]) * 60 + int(match[2]) if match and int(match[2]) < 60 else -1
    if minutes == MINUTES_PER_DAY:
        if end:
            return minutes
        raise _error("'24:00' can only end a range; write 00:00 to start at midnight")
    if not 0 <= minutes < MINUTES_PER_DAY:
        raise _error("'{text}' is not a time; write HH:MM like 07:30", text=text.strip())
    return minutes


def parse_range(text: str) -> TimeRange:
    """``"07:00-22:00"`` → a TimeRange; raises PydanticCustomError saying how to fix it."""
    parts = text.strip().split("-")
    if len(parts) != 2:
        raise _error(
            "'{text}' is not a time range; write start-end like 07:00-22:00 "
            "(an end before the start runs past midnight)",
            text=text.strip(),
        )
    start = _parse_time(parts[0], end=False)
    end = _parse_time(parts[1], end=True)
    if start == end:
        raise _error(
            "'{text}' opens and closes at the same minute; for all day write 00:00-24:00",
            text=text.strip(),
        )
    return TimeRange(start, end)


def _parse_day(name: str) -> int:
    try:
        return DAYS.index(name)
    except ValueError:
        raise _error(
            "'{name}' is not a day; write mon, tue, wed, thu, fri, sat, sun, a range like "
            "mon-fri, several like sat,sun, or daily",
            name=name,
        ) from None


def parse_days(text: str) -> frozenset[int]:
    """``"mon-fri,sun"`` → weekday numbers (0 = Monday)."""
    if text.lower() == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.lower().split(","):
        first, sep, last = part.strip().partition("-")
        start = _parse_day(first.strip())
        stop = _parse_day(last.strip()) if sep else start
        days.update((start + i) % 7 for i in range((stop - start) % 7 + 1))
    return frozenset(days)


def _ranges(texts: list[str]) -> tuple[TimeRange, ...]:
    return tuple(parse_range(t) for t in texts if t.strip())


def parse_weekly(value: object) -> WeeklyHours:
    """One ``hours`` entry such as ``"mon-fri 07:00-22:00"``."""
    if isinstance(value, WeeklyHours):
        return value
    if not isinstance(value, str):
        raise _error(
            'write each opening-hours entry as a string like "mon-fri 07:00-22:00", not {kind}',
            kind=type(value).__name__,
        )
    days_text, _, times_text = value.strip().partition(" ")
    days = parse_days(days_text) if times_text.strip(" ,") else None
    ranges = _ranges(times_text.split(","))
    if days is None or not ranges:
        raise _error(
            "'{text}' needs days then times; write it like \"mon-fri 07:00-22:00\"",
            text=value.strip(),
        )
    return WeeklyHours(days, ranges, " ".join(value.split()))


def _parse_special(value: object) -> TimeRange:
    if isinstance(value, TimeRange):
        return value
    if not isinstance(value, str):
        raise _error(
            'write special hours as strings like "09:00-14:00", not {kind}',
            kind=type(value).__name__,
        )
    return parse_range(value)


def _check_door_id(value: object) -> str:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise _error(
            "'{value}' is not a door id; use 1-32 lowercase letters, digits or inner dashes "
            "(for example 'nursing-room-2')",
            value=value,
        )
    return value


def _check_timezone(value: object) -> str:
    try:
        if not isinstance(value, str):
            raise TypeError(value)  # noqa: TRY301 - one message for every bad shape
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise _error(
            "'{value}' is not a known time zone; write an IANA name like Asia/Shanghai "
            "(or leave timezone out for Asia/Shanghai)",
            value=value,
        ) from None
    return value


def _check_flag(value: object) -> bool:
    # pydantic alone would take "no", "off" or 0 for false: a rule about who may enter should
    # be written as TOML's own true/false. YZ_EDGE_* variables are text, so "true"/"false" are
    # taken as text too, and nothing looser.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise _error("'{value}' is not true or false; write true or false, without quotes", value=value)


DoorId = Annotated[str, PlainValidator(_check_door_id)]
TimeZoneName = Annotated[str, PlainValidator(_check_timezone)]
Flag = Annotated[bool, PlainValidator(_check_flag)]
Weekly = Annotated[WeeklyHours, PlainValidator(parse_weekly), PlainSerializer(str, return_type=str)]
Special = Annotated[
    TimeRange, PlainValidator(_parse_special), PlainSerializer(str, return_type=str)
]

ALL_DAY: Final = (parse_weekly("daily 00:00-24:00"),)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExceptionDays(_Strict):
    """Dates (local to the door) closed, or open only at special hours."""

    date: dt.date
    until: dt.date | None = None
    hours: tuple[Special, ...] = ()  # empty: closed all day
    note: str = ""

    @field_validator("until")
    @classmethod
    def _until_after_date(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        first = info.data.get("date")
        if value is None or first is None:
            return value
        if value < first:
            raise _error(
                "{until} is before date {first}; until is the last day, inclusive",
                until=value.isoformat(),
                first=first.isoformat(),
            )
        if (value - first).days >= MAX_EXCEPTION_DAYS:
            raise _error(
                "exceptions may span at most {n} days; change the weekly hours instead",
                n=MAX_EXCEPTION_DAYS,
            )
        return value

    @property
    def last(self) -> dt.date:
        return self.until or self.date

    def days(self) -> list[dt.date]:
        return [self.date + timedelta(days=i) for i in range((self.last - self.date).days + 1)]


class DoorPolicyConfig(_Strict):
    """Everything the policy needs to decide at one door, offline."""

    door_id: DoorId
    # An exit reader is "out"; a reader used to come in is "in"; "both" cannot tell.
    direction: Direction = "both"
    timezone: TimeZoneName = "Asia/Shanghai"
    hours: tuple[Weekly, ...] = ALL_DAY
    exceptions: tuple[ExceptionDays, ...] = ()
    # Any one of these groups lets a member in; empty lets every member in.
    required_groups: frozenset[Annotated[str, Field(min_length=1)]] = frozenset()
    # A guest pass (a member whose only group is "guest", protocol.access.GUEST_GROUP) opens
    # this door; an outdoor-worker station admits guests, a library may set it false.
    admit_guests: Flag = True
    capacity: Annotated[int, Field(ge=1)] | None = None  # None: unlimited
    passback_s: Annotated[int, Field(ge=0, le=86_400)] = 0  # 0: off
    venue_passback: bool = False
    # A member who left without scanning out is not kept out longer than this.
    venue_passback_forget_s: Annotated[int, Field(ge=60, le=7 * 86_400)] = 12 * 3600
    booking_required: bool = False
    booking_grace_s: Annotated[int, Field(ge=0, le=86_400)] = 300

    @field_validator("hours")
    @classmethod
    def _some_hours(cls, value: tuple[WeeklyHours, ...]) -> tuple[WeeklyHours, ...]:
        if not value:
            raise _error(
                "no opening hours means the door never opens; leave hours out for 24 h, or "
                'list times like ["mon-fri 07:00-22:00"] (close dates with [[exceptions]])'
            )
        return value

    @field_validator("exceptions")
    @classmethod
    def _no_overlap(cls, value: tuple[ExceptionDays, ...]) -> tuple[ExceptionDays, ...]:
        seen: dict[dt.date, int] = {}
        for index, exception in enumerate(value):
            for day in exception.days():
                if day in seen:
                    raise _error(
                        "entries {a} and {b} both cover {day}; keep one entry per date",
                        a=seen[day],
                        b=index,
                        day=day.isoformat(),
                    )
                seen[day] = index
        return value

    @field_validator("venue_passback")
    @classmethod
    def _needs_direction(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("direction") == "both":
            raise _error(
                "in/out alternation needs to know which way this reader faces; set "
                'direction = "in" or "out", or venue_passback = false'
            )
        return value

    @field_validator("admit_guests")
    @classmethod
    def _guests_not_both_refused_and_required(cls, value: bool, info: ValidationInfo) -> bool:
        if not value and GUEST_GROUP in info.data.get("required_groups", ()):
            raise _error(
                'admit_guests = false refuses guests but required_groups lists "{group}"; '
                'remove "{group}" from required_groups, or leave admit_guests out',
                group=GUEST_GROUP,
            )
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_KNOWN_KEYS: Final = sorted(set(DoorPolicyConfig.model_fields) | set(ExceptionDays.model_fields))


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(whole config)"


def _explain(error: Any) -> str:
    kind, message, value = error["type"], error["msg"], error.get("input")
    if kind == "policy_config":
        return str(message)
    if kind == "missing":
        return 'is required; add it (for example door_id = "station-07")'
    if kind == "extra_forbidden":
        key = str(error["loc"][-1]) if error["loc"] else ""
        close = difflib.get_close_matches(key, _KNOWN_KEYS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "remove it or fix its spelling"
        return f"is not a setting here; {hint}"
    if kind in {"date_from_datetime_parsing", "date_parsing", "date_type"}:
        return f"{value!r} is not a date; write it like 2025-01-28"
    return f"{message} (got {value!r})"


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per problem, each starting with where it is: ``hours[1]: '25:00' is not…``."""
    return [f"{_where(tuple(e['loc']))}: {_explain(e)}" for e in exc.errors()]
