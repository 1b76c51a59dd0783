"""The door policy config: defaults, the hours syntax, and errors that say where and how."""

from __future__ import annotations

import datetime as dt
import tomllib
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from protocol.door_policy import (
    DoorPolicyConfig,
    TimeRange,
    describe_errors,
    parse_days,
    parse_weekly,
)

EXAMPLE = """
door_id = "nursing-room-2"
direction = "in"
timezone = "Asia/Shanghai"
hours = ["mon-fri 07:00-22:00", "sat,sun 09:00-12:00,14:00-18:00", "fri 22:00-06:00"]
required_groups = ["nursing", "staff"]
admit_guests = false
capacity = 4
passback_s = 30
venue_passback = true
booking_required = true
booking_grace_s = 600

[[exceptions]]
date = 2025-01-28
until = 2025-02-04
note = "Spring Festival"

[[exceptions]]
date = 2025-02-05
hours = ["09:00-14:00"]
"""


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        DoorPolicyConfig.model_validate(data)
    return describe_errors(info.value)


def test_minimal_config_is_a_24_hour_station() -> None:
    config = DoorPolicyConfig.model_validate({"door_id": "station-07"})
    assert config.direction == "both"
    assert config.timezone == "Asia/Shanghai"
    assert [str(h) for h in config.hours] == ["daily 00:00-24:00"]
    assert config.hours[0].days == frozenset(range(7))
    assert config.exceptions == ()
    assert config.required_groups == frozenset()
    assert config.admit_guests is True
    assert config.capacity is None
    assert config.passback_s == 0
    assert config.venue_passback is False
    assert config.booking_required is False


def test_documented_toml_example_loads() -> None:
    config = DoorPolicyConfig.model_validate(tomllib.loads(EXAMPLE))
    assert config.door_id == "nursing-room-2"
    assert config.required_groups == frozenset({"nursing", "staff"})
    assert config.admit_guests is False
    weekend = config.hours[1]
    assert weekend.days == frozenset({5, 6})
    assert weekend.ranges == (TimeRange(9 * 60, 12 * 60), TimeRange(14 * 60, 18 * 60))
    assert config.hours[2].ranges[0].overnight
    spring = config.exceptions[0]
    assert spring.days()[0] == dt.date(2025, 1, 28)
    assert len(spring.days()) == 8
    assert spring.hours == ()
    assert config.exceptions[1].hours == (TimeRange(9 * 60, 14 * 60),)
    assert config.zone.key == "Asia/Shanghai"


def test_config_is_frozen_and_dumps_back_to_the_written_form() -> None:
    config = DoorPolicyConfig.model_validate(tomllib.loads(EXAMPLE))
    with pytest.raises(ValidationError):
        config.capacity = 5  # type: ignore[misc]
    dumped = config.model_dump(mode="json")
    assert dumped["hours"][1] == "sat,sun 09:00-12:00,14:00-18:00"
    assert dumped["exceptions"][1]["hours"] == ["09:00-14:00"]
    assert DoorPolicyConfig.model_validate(dumped) == config


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon", {0}),
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat,sun", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("mon-wed,fri", {0, 1, 2, 4}),
        ("daily", set(range(7))),
        ("MON-SUN", set(range(7))),
    ],
)
def test_day_specs(text: str, days: set[int]) -> None:
    assert parse_days(text) == frozenset(days)


def test_ranges_and_midnight() -> None:
    assert parse_weekly("daily 22:00-06:00").ranges == (TimeRange(22 * 60, 6 * 60),)
    assert parse_weekly("daily 18:00-24:00").ranges == (TimeRange(18 * 60, 24 * 60),)
    assert not parse_weekly("daily 18:00-24:00").ranges[0].overnight
    assert parse_weekly("mon  7:05-9:00").ranges == (TimeRange(7 * 60 + 5, 9 * 60),)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("mon-fri 07:00-25:00", "hours[1]: '25:00' is not a time; write HH:MM like 07:30"),
        ("mon-fri 07:60-09:00", "hours[1]: '07:60' is not a time"),
        ("mon-fri 7am-9pm", "hours[1]: '7am' is not a time"),
        ("mon-fri 07:00", "hours[1]: '07:00' is not a time range; write start-end"),
        ("funday 07:00-09:00", "hours[1]: 'funday' is not a day; write mon, tue"),
        ("mon-fri", "hours[1]: 'mon-fri' needs days then times"),
        ("mon-fri ,", "hours[1]: 'mon-fri ,' needs days then times"),
        ("mon 24:00-06:00", "hours[1]: '24:00' can only end a range"),
        ("mon 07:00-07:00", "opens and closes at the same minute; for all day write 00:00-24:00"),
    ],
)
def test_bad_hours_name_the_entry_and_the_fix(entry: str, message: str) -> None:
    lines = errors({"door_id": "d1", "hours": ["sat 09:00-18:00", entry]})
    assert len(lines) == 1
    assert lines[0].startswith(message) or message in lines[0]


def test_hours_entry_that_is_not_a_string() -> None:
    assert errors({"door_id": "d1", "hours": [{"mon": "07:00"}]}) == [
        'hours[0]: write each opening-hours entry as a string like "mon-fri 07:00-22:00", not dict'
    ]


def test_empty_hours_is_refused() -> None:
    [line] = errors({"door_id": "d1", "hours": []})
    assert line.startswith("hours: no opening hours means the door never opens")


def test_every_error_is_reported_with_its_location() -> None:
    lines = errors(
        {
            "door_id": "Door 1",
            "timezone": "Asia/Shangai",
            "direction": "inn",
            "capacity": 0,
            "pasback_s": 3,
            "exceptions": [
                {"date": "2025-13-01"},
                {"date": "2025-01-02", "until": "2025-01-01", "hours": ["9-10"]},
            ],
        }
    )
    assert lines == [
        (
            "door_id: 'Door 1' is not a door id; use 1-32 lowercase letters, digits or inner "
            "dashes (for example 'nursing-room-2')"
        ),
        "direction: Input should be 'in', 'out' or 'both' (got 'inn')",
        (
            "timezone: 'Asia/Shangai' is not a known time zone; write an IANA name like "
            "Asia/Shanghai (or leave timezone out for Asia/Shanghai)"
        ),
        "exceptions[0].date: '2025-13-01' is not a date; write it like 2025-01-28",
        (
            "exceptions[1].until: 2025-01-01 is before date 2025-01-02; until is the last day, "
            "inclusive"
        ),
        "exceptions[1].hours[0]: '9' is not a time; write HH:MM like 07:30",
        "capacity: Input should be greater than or equal to 1 (got 0)",
        "pasback_s: is not a setting here; did you mean 'passback_s'?",
    ]


def test_missing_door_id_and_unknown_exception_key() -> None:
    lines = errors({"exceptions": [{"date": "2025-01-28", "closed": True}]})
    assert lines == [
        'door_id: is required; add it (for example door_id = "station-07")',
        "exceptions[0].closed: is not a setting here; remove it or fix its spelling",
    ]


def test_overlapping_exceptions_are_refused() -> None:
    [line] = errors(
        {
            "door_id": "d1",
            "exceptions": [
                {"date": "2025-01-28", "until": "2025-02-04"},
                {"date": "2025-02-01", "hours": ["09:00-12:00"]},
            ],
        }
    )
    assert line == "exceptions: entries 0 and 1 both cover 2025-02-01; keep one entry per date"


def test_exception_span_is_bounded() -> None:
    [line] = errors(
        {"door_id": "d1", "exceptions": [{"date": "2025-01-01", "until": "2026-06-01"}]}
    )
    assert line.startswith("exceptions[0].until: exceptions may span at most 366 days")


def test_venue_passback_needs_a_direction() -> None:
    [line] = errors({"door_id": "d1", "venue_passback": True})
    assert line.startswith("venue_passback: in/out alternation needs to know which way")
    assert DoorPolicyConfig(door_id="d1", direction="out", venue_passback=True).venue_passback


def test_refusing_guests_while_requiring_the_guest_group_is_refused() -> None:
    [line] = errors({"door_id": "d1", "admit_guests": False, "required_groups": ["rider", "guest"]})
    assert line == (
        'admit_guests: admit_guests = false refuses guests but required_groups lists "guest"; '
        'remove "guest" from required_groups, or leave admit_guests out'
    )
    assert DoorPolicyConfig(door_id="d1", required_groups=frozenset({"guest"})).admit_guests


@pytest.mark.parametrize("value", ["no", "off", 0, 1, "yes", None])
def test_admit_guests_takes_only_true_or_false(value: object) -> None:
    [line] = errors({"door_id": "d1", "admit_guests": value})
    assert (
        line == f"admit_guests: '{value}' is not true or false; write true or false, without quotes"
    )


@pytest.mark.parametrize(("value", "expected"), [(False, False), ("false", False), ("True", True)])
def test_admit_guests_as_a_bool_or_as_text_from_a_variable(value: object, expected: bool) -> None:
    # YZ_EDGE_DOOR__POLICY__ADMIT_GUESTS=false reaches the model as text.
    config = DoorPolicyConfig.model_validate({"door_id": "d1", "admit_guests": value})
    assert config.admit_guests is expected
    assert DoorPolicyConfig.model_validate(config.model_dump(mode="json")) == config


def test_timezone_must_be_a_string() -> None:
    [line] = errors({"door_id": "d1", "timezone": 8})
    assert line.startswith("timezone: '8' is not a known time zone")


def test_whole_config_errors_have_nested_locations() -> None:
    # The lead may nest door policies in a bigger file: locations still read naturally.
    class Venue(BaseModel):
        doors: list[DoorPolicyConfig]

    with pytest.raises(ValidationError) as info:
        Venue.model_validate({"doors": [{"door_id": "a"}, {"door_id": "b", "hours": ["x 1"]}]})
    assert describe_errors(info.value) == [
        (
            "doors[1].hours[0]: 'x' is not a day; write mon, tue, wed, thu, fri, sat, sun, a range "
            "like mon-fri, several like sat,sun, or daily"
        )
    ]
