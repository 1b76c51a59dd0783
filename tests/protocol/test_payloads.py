"""Payload models: limits, item validation and sequence-range compression."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol.metrics import METRICS, check_value
from protocol.payloads import (
    MAX_BATCH_ITEMS,
    MAX_EVENT_DATA_KEYS,
    MAX_SEQ,
    DeviceState,
    Event,
    Reading,
    StorageAck,
    TelemetryBatch,
    seq_ranges,
)

TS = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)


def _first_loc(exc: pytest.ExceptionInfo[ValidationError]) -> tuple[int | str, ...]:
    return tuple(exc.value.errors()[0]["loc"])


def test_reading_converts_its_time_to_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    reading = Reading(
        seq=1, ts=datetime(2025, 5, 1, 11, 0, tzinfo=beijing), metric="power_w", value=10
    )
    assert reading.ts == TS
    assert reading.ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"seq": 0}, ("seq",)),
        ({"seq": MAX_SEQ + 1}, ("seq",)),
        ({"seq": True}, ("seq",)),
        ({"seq": "5"}, ("seq",)),
        ({"seq": 5.0}, ("seq",)),
        ({"ts": datetime(2025, 5, 1)}, ("ts",)),  # noqa: DTZ001 - a naive time is the point
        ({"ts": datetime(2019, 12, 31, tzinfo=UTC)}, ("ts",)),
        ({"ts": datetime(2100, 1, 1, tzinfo=UTC)}, ("ts",)),
        ({"metric": "humidity"}, ("metric",)),
        ({"metric": "x" * 41}, ("metric",)),
        ({"value": 126.0}, ("value",)),
        ({"value": float("nan")}, ("value",)),
        ({"value": float("inf")}, ("value",)),
        ({"value": True}, ("value",)),
        ({"value": "20.5"}, ("value",)),
        ({"sensor": "Bad Sensor"}, ("sensor",)),
        ({"colour": "red"}, ("colour",)),
    ],
)
def test_reading_refusals(fields: dict[str, object], loc: tuple[str, ...]) -> None:
    good: dict[str, object] = {"seq": 1, "ts": TS, "metric": "temperature_c", "value": 20.5}
    with pytest.raises(ValidationError) as info:
        Reading.model_validate(good | fields)
    assert _first_loc(info) == loc


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_every_metric_accepts_its_bounds_and_refuses_just_outside(metric: str) -> None:
    spec = METRICS[metric]
    for value in (spec.low, spec.high):
        assert check_value(metric, value) is None
        Reading(seq=1, ts=TS, metric=metric, value=value)
    for value in (spec.low - 1, spec.high + 1):
        problem = check_value(metric, value)
        assert problem is not None
        assert spec.name in problem


def test_unknown_metric_message_lists_the_known_ones() -> None:
    problem = check_value("humidity", 1.0)
    assert problem is not None
    assert "temperature_c" in problem


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"type": "Door.Open"}, ("type",)),
        ({"type": "door..open"}, ("type",)),
        ({"type": "a" * 49}, ("type",)),
        ({"data": {f"k{i}": i for i in range(MAX_EVENT_DATA_KEYS + 1)}}, ("data",)),
        ({"data": {"k" * 41: 1}}, ("data", "k" * 41, "[key]")),
        ({"data": {"note": "x" * 201}}, ("data", "note")),
    ],
)
def test_event_refusals(fields: dict[str, object], loc: tuple[str, ...]) -> None:
    good: dict[str, object] = {"seq": 1, "ts": TS, "type": "door.decision"}
    with pytest.raises(ValidationError) as info:
        Event.model_validate(good | fields)
    assert _first_loc(info)[: len(loc)] == loc


def test_event_data_accepts_scalars_only() -> None:
    data = {"granted": True, "count": 3, "temp": 36.6, "member": "m-1", "note": None}
    assert Event(seq=1, ts=TS, type="door.decision", data=data).data == data
    with pytest.raises(ValidationError):
        Event.model_validate({"seq": 1, "ts": TS, "type": "x", "data": {"nested": [1]}})


def test_batch_size_limits() -> None:
    reading = Reading(seq=1, ts=TS, metric="power_w", value=1.0)
    TelemetryBatch(v=1, device="d", items=[reading] * MAX_BATCH_ITEMS)
    with pytest.raises(ValidationError):
        TelemetryBatch(v=1, device="d", items=[reading] * (MAX_BATCH_ITEMS + 1))
    with pytest.raises(ValidationError):
        TelemetryBatch(v=1, device="d", items=[])
    with pytest.raises(ValidationError):
        TelemetryBatch.model_validate({"v": 2, "device": "d", "items": [reading]})
    with pytest.raises(ValidationError):
        TelemetryBatch.model_validate({"v": 1, "device": "Door 1", "items": [reading]})


def test_state_status_is_closed() -> None:
    DeviceState(v=1, device="d", status="offline", ts=TS)
    with pytest.raises(ValidationError):
        DeviceState.model_validate({"v": 1, "device": "d", "status": "busy", "ts": TS})


def test_ack_ranges_are_bounded_and_ordered() -> None:
    assert StorageAck(v=1, device="d", ranges=[(1, 1), (3, MAX_SEQ)]).ranges[1] == (3, MAX_SEQ)
    for ranges in ([], [(0, 1)], [(1, MAX_SEQ + 1)], [(5, 3)], [(1, 2)] * (MAX_BATCH_ITEMS + 1)):
        with pytest.raises(ValidationError):
            StorageAck.model_validate({"v": 1, "device": "d", "ranges": ranges})


def _expand(ranges: list[tuple[int, int]]) -> list[int]:
    return [seq for first, last in ranges for seq in range(first, last + 1)]


def test_seq_ranges_examples() -> None:
    assert seq_ranges([]) == []
    assert seq_ranges([7]) == [(7, 7)]
    assert seq_ranges([5, 3, 4, 4, 9, 1, 10]) == [(1, 1), (3, 5), (9, 10)]


@settings(max_examples=300, deadline=None)
@given(
    base=st.integers(min_value=1, max_value=MAX_SEQ - 1000),
    offsets=st.lists(st.integers(min_value=0, max_value=999), max_size=200),
)
def test_seq_ranges_matches_a_naive_expansion(base: int, offsets: list[int]) -> None:
    seqs = [base + offset for offset in offsets]
    ranges = seq_ranges(seqs)
    assert _expand(ranges) == sorted(set(seqs))
    for first, last in ranges:
        assert first <= last
    for (_, last), (first, _) in pairwise(ranges):
        assert first > last + 1  # neither overlapping nor adjacent: as few ranges as possible
