"""The fast path decides like the models, in both directions (protocol/fastpath.py).

- Whatever it accepts, the model accepts and builds the same model (fields, their types,
  the fields the sender gave, the JSON it writes back).
- Whatever the model refuses, it refuses.
- Every item in the form a box writes (the model's own JSON), it accepts.

The inputs are hostile on purpose: near every bound of every field, every type JSON has,
times in forms RFC 3339 allows and forms it does not, lone surrogates, extra keys.
"""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from protocol.fastpath import fast_event, fast_reading
from protocol.metrics import METRICS
from protocol.payloads import MAX_SEQ, Event, Reading
from tests.protocol.strategies import events as strategy_events
from tests.protocol.strategies import readings

MANY = settings(max_examples=300)

# --- values near every edge --------------------------------------------------------------

seq_values = st.one_of(
    st.integers(min_value=-3, max_value=3),
    st.integers(min_value=MAX_SEQ - 2, max_value=MAX_SEQ + 2),
    st.integers(),
    st.booleans(),
    st.floats(),
    st.sampled_from(["1", None, [], {}]),
)

datetimes = st.datetimes(
    min_value=datetime(2019, 12, 31),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2100, 1, 2),  # noqa: DTZ001
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
    ),
)


@st.composite
def time_texts(draw: st.DrawFn) -> object:  # noqa: C901 - one branch per form, flat
    """A time as text in forms boxes write, forms RFC 3339 allows, and broken ones."""
    moment = draw(datetimes)
    text = moment.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds", "auto"])))
    if draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    variant = draw(st.integers(min_value=0, max_value=12))
    if variant == 1:
        text = text.replace("T", " ")
    elif variant == 2:
        text = text.replace("T", "t")
    elif variant == 3:
        text = text[:19]  # no offset: naive
    elif variant == 4:
        text = text[:10]  # a date
    elif variant == 5:
        text += "\n"
    elif variant == 6:
        text = text.replace("0", "\u0660")  # Arabic-Indic digits
    elif variant == 7:
        text = text[:19] + ".1234567Z"  # nanoseconds
    elif variant == 8:
        text = draw(st.sampled_from(["2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z",
                                     "2026-12-31T23:59:60Z", "2026-01-01T00:00:00+24:00",
                                     "2026-01-01T00:00:00+08:60", "2026-01-01T00:00:00-00:00",
                                     "2026-01-01T00:00:00+0800", "2026-01-01T00:00Z",
                                     "2026-06-01T12:00:00.5+08:00"]))  # fmt: skip
    elif variant == 9:
        return draw(st.one_of(st.integers(), st.floats(), st.none(), st.booleans()))
    elif variant == 10:
        return draw(st.text(max_size=40))
    return text


sensors = st.one_of(
    st.from_regex(r"[a-z0-9][a-z0-9_-]{0,31}", fullmatch=True),
    st.sampled_from(["", "Fridge", "a" * 33, "fridge\n", "-x", "\ud800", "冰箱"]),
    st.none(),
    st.integers(),
)


@st.composite
def metric_values(draw: st.DrawFn) -> tuple[object, object]:
    metric = draw(st.sampled_from(sorted(METRICS)) | st.text(max_size=45) | st.integers())
    spec = METRICS.get(metric) if isinstance(metric, str) else None
    near = [spec.low, spec.high] if spec else [0.0]
    value = draw(
        st.one_of(
            st.sampled_from(near),
            st.floats(),  # NaN and infinities among them
            st.floats(min_value=-2e12, max_value=2e12),
            st.integers(min_value=-(10**13), max_value=10**13),
            st.integers(),
            st.booleans(),
            st.sampled_from(["4.5", None, [1]]),
        )
    )
    return metric, value


@st.composite
def raw_readings(draw: st.DrawFn) -> object:
    metric, value = draw(metric_values())
    raw: dict[str, object] = {
        "seq": draw(seq_values),
        "ts": draw(time_texts()),
        "metric": metric,
        "value": value,
    }
    if draw(st.booleans()):
        raw["sensor"] = draw(sensors)
    for key in draw(st.lists(st.sampled_from(["seq", "ts", "metric", "value"]), max_size=2)):
        raw.pop(key, None)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        raw[draw(st.sampled_from(["extra", "type", "data", "v"]))] = 1
    return draw(st.sampled_from([raw, raw, raw, [raw], "reading", None]))


data_keys = st.one_of(
    st.text(max_size=41), st.sampled_from(["\ud800", "a" * 40, "a" * 41, "结果", "\x00", "a\x00b"])
)
data_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=201),
    st.sampled_from(["x" * 200, "x" * 201, "\udc00", "\x00", "ok\x00", [], {}]),
)


@st.composite
def raw_events(draw: st.DrawFn) -> object:
    raw: dict[str, object] = {
        "seq": draw(seq_values),
        "ts": draw(time_texts()),
        "type": draw(
            st.from_regex(r"[a-z][a-z0-9_]{0,12}(\.[a-z][a-z0-9_]{0,12}){0,3}", fullmatch=True)
            | st.text(max_size=50)
            | st.sampled_from(["a" * 48, "a" * 49, "door.", ".door", "Door", 3])
        ),
    }
    if draw(st.booleans()):
        raw["data"] = draw(
            st.dictionaries(data_keys, data_values, max_size=34) | st.sampled_from([None, [], "x"])
        )
    for key in draw(st.lists(st.sampled_from(["seq", "ts", "type"]), max_size=1)):
        raw.pop(key, None)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        raw["metric"] = "temperature_c"
    return raw


# --- the comparisons ---------------------------------------------------------------------


def modelled(model: type[BaseModel], raw: object) -> BaseModel | None:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def assert_same(fast: BaseModel, slow: BaseModel) -> None:
    assert type(fast) is type(slow)
    assert repr(fast) == repr(slow)  # values, their types, the time zone object
    assert fast == slow
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_dump_json(exclude_unset=True) == slow.model_dump_json(exclude_unset=True)


@MANY
@given(raw_readings())
@example({"seq": 1, "ts": "2026-01-01T00:00:00Z", "metric": "temperature_c", "value": True})
@example({"seq": 1, "ts": "2026-01-01T00:00:00Z", "metric": "energy_kwh", "value": 10**12})
@example({"seq": 1, "ts": "2019-12-31T23:59:59Z", "metric": "voltage_v", "value": 230})
@example({"seq": 1, "ts": "2100-01-01T08:00:00+08:00", "metric": "voltage_v", "value": 230})
def test_a_reading_the_fast_path_takes_is_the_models(raw: object) -> None:
    fast = fast_reading(raw, {})
    slow = modelled(Reading, raw)
    if fast is not None:
        assert slow is not None, "the fast path took what the model refuses"
        assert_same(fast, slow)


@MANY
@given(raw_events())
@example({"seq": 1, "ts": "2026-01-01T00:00:00Z", "type": "x", "data": {"\ud800": 1}})
@example({"seq": 1, "ts": "2026-01-01T00:00:00Z", "type": "x", "data": {"k": float("nan")}})
@example({"seq": 1, "ts": "2026-01-01T00:00:00Z", "type": "x", "data": {"k": "a\x00"}})
@example({"seq": 1, "ts": "2026-01-01T00:00:00Z", "type": "x", "data": {"\x00": 1}})
@example({"seq": 1, "ts": "2026-01-01T00:00:00Z", "type": "x", "data": {"k": "\ud800"}})
def test_an_event_the_fast_path_takes_is_the_models(raw: object) -> None:
    fast = fast_event(raw, {})
    slow = modelled(Event, raw)
    if fast is not None:
        assert slow is not None, "the fast path took what the model refuses"
        assert_same(fast, slow)


def box_form(item: BaseModel) -> Any:
    """The item as a box's codec writes it (protocol.codec.encode), read back as JSON."""
    return json.loads(item.model_dump_json(exclude_none=True))


events = strategy_events(max_keys=32)


@MANY
@given(readings())
def test_every_reading_a_box_sends_takes_the_fast_path(reading: Reading) -> None:
    raw = box_form(reading)
    fast = fast_reading(raw, {})
    assert fast is not None, f"the fast path sent {raw} to the model"
    assert_same(fast, Reading.model_validate(raw))


@MANY
@given(events)
def test_every_event_a_box_sends_takes_the_fast_path(event: Event) -> None:
    raw = box_form(event)
    fast = fast_event(raw, {})
    assert fast is not None, f"the fast path sent {raw} to the model"
    assert_same(fast, Event.model_validate(raw))


def test_items_of_one_round_share_one_reading_of_their_time() -> None:
    seen: dict[str, datetime] = {}
    ts = "2026-12-07T09:00:00.250+08:00"
    first = fast_reading({"seq": 1, "ts": ts, "metric": "voltage_v", "value": 229.5}, seen)
    second = fast_reading({"seq": 2, "ts": ts, "metric": "power_w", "value": -3}, seen)

    assert first is not None
    assert second is not None
    assert first.ts is second.ts
    assert seen == {ts: datetime(2026, 12, 7, 1, 0, 0, 250_000, tzinfo=UTC)}
    assert second.value == -3.0
    assert type(second.value) is float


@pytest.mark.parametrize(
    "raw",
    [
        {"seq": 1, "ts": "2026-01-01T00:00:00Z", "metric": "temperature_c", "value": 126.0},
        {"seq": 1, "ts": "2026-01-01T00:00:00Z", "metric": "temperature_c", "value": None},
        {"seq": 0, "ts": "2026-01-01T00:00:00Z", "metric": "temperature_c", "value": 1.0},
        {"seq": 1, "ts": "2026-01-01T00:00:00", "metric": "temperature_c", "value": 1.0},
        {"seq": 1, "ts": "2026-01-01T00:00:00Z", "metric": "temp", "value": 1.0},
        {"seq": 1, "ts": "2026-01-01T00:00:00Z", "metric": "temperature_c", "value": 1.0, "x": 1},
    ],
)
def test_what_the_model_refuses_is_left_to_the_model(raw: dict[str, object]) -> None:
    assert modelled(Reading, raw) is None
    assert fast_reading(raw, {}) is None
