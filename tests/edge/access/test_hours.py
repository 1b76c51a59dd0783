"""Opening hours at an instant: boundaries, overnight ranges, exceptions and time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.access.hours import Schedule
from protocol.door_policy import DoorPolicyConfig

SHANGHAI = ZoneInfo("Asia/Shanghai")


def schedule(**fields: Any) -> Schedule:
    return Schedule(DoorPolicyConfig.model_validate({"door_id": "d1", **fields}))


def local(*args: int, zone: ZoneInfo = SHANGHAI) -> datetime:
    """A wall-clock time at the door, handed over in UTC as the agent's clock would."""
    year, month, day, hour, minute, *rest = args
    second = rest[0] if rest else 0
    return datetime(year, month, day, hour, minute, second, tzinfo=zone).astimezone(UTC)


# 2025-01-06 is a Monday.
MON = (2025, 1, 6)
FRI = (2025, 1, 10)
SAT = (2025, 1, 11)


@given(st.datetimes(timezones=st.just(UTC)))
def test_default_is_open_every_instant(at: datetime) -> None:
    assert schedule().is_open(at)


@pytest.mark.parametrize(
    ("hour", "minute", "second", "is_open"),
    [
        (6, 59, 59, False),
        (7, 0, 0, True),
        (21, 59, 59, True),
        (22, 0, 0, False),
    ],
)
def test_weekday_boundaries(hour: int, minute: int, second: int, is_open: bool) -> None:
    s = schedule(hours=["mon-fri 07:00-22:00"])
    assert s.is_open(local(*MON, hour, minute, second)) is is_open


def test_sub_second_before_close_is_still_open() -> None:
    s = schedule(hours=["mon-fri 07:00-22:00"])
    assert s.is_open(local(*MON, 21, 59, 59) + timedelta(microseconds=999_999))


def test_days_not_listed_are_closed() -> None:
    s = schedule(hours=["mon-fri 07:00-22:00", "sun 09:00-12:00,14:00-18:00"])
    assert not s.is_open(local(*SAT, 12, 0))
    assert s.is_open(local(2025, 1, 12, 11, 59))
    assert not s.is_open(local(2025, 1, 12, 13, 0))
    assert s.is_open(local(2025, 1, 12, 14, 0))


def test_overnight_range_runs_into_the_next_day() -> None:
    s = schedule(hours=["fri 22:00-06:00"])
    assert not s.is_open(local(*FRI, 21, 59))
    assert s.is_open(local(*FRI, 22, 0))
    assert s.is_open(local(*FRI, 23, 59, 59))
    assert s.is_open(local(*SAT, 0, 0))
    assert s.is_open(local(*SAT, 5, 59, 59))
    assert not s.is_open(local(*SAT, 6, 0))
    # It belongs to Friday: Thursday night to Friday morning is closed.
    assert not s.is_open(local(*FRI, 3, 0))
    assert not s.is_open(local(*SAT, 23, 0))


def test_overnight_across_the_week_end_wraps_to_monday() -> None:
    s = schedule(hours=["sun 20:00-02:00"])
    assert s.is_open(local(*MON, 1, 59))
    assert not s.is_open(local(*MON, 2, 0))


def test_until_midnight_written_two_ways() -> None:
    for text in ("mon 18:00-24:00", "mon 18:00-00:00"):
        s = schedule(hours=[text])
        assert s.is_open(local(*MON, 23, 59, 59))
        assert not s.is_open(local(2025, 1, 7, 0, 0))


def test_closed_exception_covers_the_whole_local_day() -> None:
    s = schedule(
        hours=["daily 22:00-06:00", "daily 08:00-20:00"],
        exceptions=[{"date": "2025-01-28", "until": "2025-01-29", "note": "Spring Festival"}],
    )
    # The night before's tail is cut at midnight: the exception owns its day.
    assert s.is_open(local(2025, 1, 27, 23, 59))
    assert not s.is_open(local(2025, 1, 28, 0, 0))
    assert not s.is_open(local(2025, 1, 28, 10, 0))
    status = s.status(local(2025, 1, 29, 23, 0))
    assert not status.open
    assert status.note == "Spring Festival"
    assert status.describe() == "closed at Wed 2025-01-29 23:00 Asia/Shanghai (Spring Festival)"
    # The weekly schedule is back on the 30th, from its first minute.
    assert not s.is_open(local(2025, 1, 30, 7, 0))
    assert s.is_open(local(2025, 1, 30, 8, 0))


def test_special_hours_replace_the_weekly_ones_that_day() -> None:
    s = schedule(
        hours=["daily 07:00-22:00"],
        exceptions=[{"date": "2025-02-05", "hours": ["09:00-14:00", "23:00-02:00"]}],
    )
    assert not s.is_open(local(2025, 2, 5, 8, 0))
    assert s.is_open(local(2025, 2, 5, 9, 0))
    assert not s.is_open(local(2025, 2, 5, 14, 0))
    assert not s.is_open(local(2025, 2, 5, 21, 0))
    assert s.is_open(local(2025, 2, 5, 23, 30))
    # An exception's own overnight range runs into an ordinary next day.
    assert s.is_open(local(2025, 2, 6, 1, 59))
    assert not s.is_open(local(2025, 2, 6, 2, 0))
    assert s.is_open(local(2025, 2, 6, 7, 0))


def test_shanghai_door_reads_its_own_wall_clock() -> None:
    s = schedule(hours=["daily 07:00-23:00"])
    # 23:30 in Shanghai is 15:30 UTC: closed, whatever zone the box runs in.
    at = datetime(2025, 1, 6, 15, 30, tzinfo=UTC)
    status = s.status(at)
    assert not status.open
    assert status.local.strftime("%H:%M") == "23:30"
    assert s.is_open(datetime(2025, 1, 6, 14, 59, tzinfo=UTC))  # 22:59 local
    # 07:00 Shanghai Tuesday is 23:00 UTC Monday: the local weekday decides.
    tuesday_only = schedule(hours=["tue 07:00-08:00"])
    assert tuesday_only.is_open(datetime(2025, 1, 6, 23, 0, tzinfo=UTC))
    assert not tuesday_only.is_open(datetime(2025, 1, 7, 23, 0, tzinfo=UTC))


def test_any_aware_zone_gives_the_same_answer() -> None:
    s = schedule(hours=["daily 07:00-23:00"])
    at = datetime(2025, 1, 6, 15, 30, tzinfo=UTC)
    assert s.is_open(at.astimezone(ZoneInfo("America/New_York"))) is s.is_open(at)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        schedule().is_open(datetime(2025, 1, 6, 12, 0))  # noqa: DTZ001


def test_zone_with_daylight_saving_uses_the_wall_clock() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    s = schedule(timezone="Europe/Berlin", hours=["daily 02:00-03:00"])
    # 2025-03-30: clocks jump 02:00 -> 03:00, so the range never happens that night.
    start = datetime(2025, 3, 30, 0, 0, tzinfo=UTC)
    assert not any(s.is_open(start + timedelta(minutes=m)) for m in range(0, 180, 5))
    # 2025-10-26: 02:00-03:00 happens twice, and is open both times.
    first = datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2025, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert first.astimezone(berlin).hour == second.astimezone(berlin).hour == 2
    assert s.is_open(first)
    assert s.is_open(second)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    )
)
def test_shanghai_is_always_utc_plus_eight(at: datetime) -> None:
    # No DST since 1991: opening at 07:00 local is always 23:00 UTC the day before.
    s = schedule(hours=["daily 07:00-08:00"])
    assert s.is_open(at) is (at.hour == 23)
