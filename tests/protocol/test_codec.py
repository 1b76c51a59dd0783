"""The codec: round trips, every rejection path with its field, and fuzzing for crashes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.codec import (
    DecodedBatch,
    batch_for,
    decode_ack,
    decode_batch,
    decode_state,
    encode,
    encode_prevalidated_batch,
    parse_json,
)
from protocol.errors import PayloadError, ProtocolError
from protocol.payloads import (
    MAX_BATCH_ITEMS,
    MAX_PAYLOAD_BYTES,
    MAX_SEQ,
    DeviceState,
    Event,
    EventBatch,
    Reading,
    StorageAck,
    TelemetryBatch,
    seq_ranges,
)
from protocol.topics import Kind, Topic
from tests.protocol.strategies import events as strategy_events
from tests.protocol.strategies import readings, seqs, timestamps

TS = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
TS_TEXT = "2025-05-01T03:00:00Z"
TELEMETRY = Topic("station-07", "door-1", Kind.TELEMETRY)
EVENT = Topic("station-07", "door-1", Kind.EVENT)
STATE = Topic("station-07", "door-1", Kind.STATE)
ACK = Topic("station-07", "door-1", Kind.ACK)

Json = dict[str, Any]
Decoder = Callable[[Topic, bytes], object]


def _reading(seq: int, **changes: Any) -> Json:
    return {"seq": seq, "ts": TS_TEXT, "metric": "temperature_c", "value": 21.5} | changes


def _event(seq: int, **changes: Any) -> Json:
    return {"seq": seq, "ts": TS_TEXT, "type": "door.decision", "data": {"ok": True}} | changes


def _batch(items: object, **changes: Any) -> Json:
    return {"v": 1, "device": "door-1", "items": items} | changes


def _state(**changes: Any) -> Json:
    return {"v": 1, "device": "door-1", "status": "online", "ts": TS_TEXT} | changes


def _ack(**changes: Any) -> Json:
    return {"v": 1, "device": "door-1", "ranges": [[1, 3]]} | changes


def _bytes(data: object) -> bytes:
    return json.dumps(data).encode()


def _field_of(decode: Decoder, topic: Topic, payload: bytes) -> str:
    with pytest.raises(PayloadError) as info:
        decode(topic, payload)
    assert info.value.problem  # a person is told what was wrong, not just where
    return info.value.field


# --- round trips -----------------------------------------------------------------------


def test_telemetry_batch_round_trip() -> None:
    items = [
        Reading(seq=10, ts=TS, metric="temperature_c", value=4.5, sensor="fridge"),
        Reading(seq=11, ts=TS, metric="people_in", value=3),
    ]
    payload = encode(batch_for(Kind.TELEMETRY, "door-1", items))
    decoded = decode_batch(TELEMETRY, payload)
    assert decoded == DecodedBatch(TELEMETRY, items, [])


def test_event_batch_round_trip() -> None:
    items = [
        Event(seq=12, ts=TS, type="door.decision", data={"reason": "accepted", "ms": 41}),
        Event(seq=13, ts=TS, type="outbox.overflow"),
    ]
    decoded = decode_batch(EVENT, encode(batch_for(Kind.EVENT, "door-1", items)))
    assert decoded.items == items
    assert decoded.rejected == []


def test_state_round_trip() -> None:
    for state in (
        DeviceState(v=1, device="door-1", status="online", ts=TS, software="yizhan 0.1.0"),
        DeviceState(v=1, device="door-1", status="offline", ts=TS),
    ):
        assert decode_state(STATE, encode(state)) == state


def test_ack_round_trip_from_seq_ranges() -> None:
    ack = StorageAck(v=1, device="door-1", ranges=seq_ranges([5, 1, 2, 3, 9]))
    assert decode_ack(ACK, encode(ack)) == ack
    assert json.loads(encode(ack))["ranges"] == [[1, 3], [5, 5], [9, 9]]


def test_prevalidated_batch_is_byte_for_byte_what_encode_writes() -> None:
    # The edge stores each item's JSON in its outbox and wraps it at send time; the result
    # must be exactly the batch the model would have produced.
    items = [
        Event(seq=12, ts=TS, type="door.decision", data={"reason": "accepted", "note": None}),
        Event(seq=13, ts=TS, type="outbox.overflow"),
    ]
    wrapped = encode_prevalidated_batch("door-1", [encode(item).decode() for item in items])
    assert wrapped == encode(batch_for(Kind.EVENT, "door-1", items))
    assert decode_batch(EVENT, wrapped).items == items


def test_prevalidated_batch_refuses_a_bad_device_id() -> None:
    with pytest.raises(ProtocolError):
        encode_prevalidated_batch('door-1","v":2,"x":"', ["{}"])


def test_encode_leaves_out_absent_optionals() -> None:
    payload = encode(DeviceState(v=1, device="door-1", status="offline", ts=TS))
    assert json.loads(payload) == _state(status="offline")


def test_batch_for_refuses_kinds_without_batches() -> None:
    with pytest.raises(PayloadError) as info:
        batch_for(Kind.STATE, "door-1", [])
    assert info.value.field == "$"


@pytest.mark.parametrize("topic", [STATE, ACK, Topic("station-07", "door-1", Kind.CMD, "unlock")])
def test_decode_batch_refuses_topics_without_batches(topic: Topic) -> None:
    assert _field_of(decode_batch, topic, _bytes(_batch([_reading(1)]))) == "$"


def test_state_and_ack_refuse_topics_of_another_kind() -> None:
    assert _field_of(decode_state, TELEMETRY, _bytes(_state())) == "$"
    assert _field_of(decode_ack, STATE, _bytes(_ack())) == "$"


# --- whole-payload rejections ----------------------------------------------------------

DEEP = b'{"v": 1, "items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
HUGE_INT = b'{"v": ' + b"7" * 5000 + b"}"


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"v": "\xe9"}', "not UTF-8"),
        (b" " * (MAX_PAYLOAD_BYTES + 1), "over the"),
        (b"[" * 100_000 + b"]" * 100_000, "too deeply nested"),
        (DEEP[:MAX_PAYLOAD_BYTES], "too deeply nested"),
        (HUGE_INT, "absurd number"),
        (b"[]", "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b'"door-1"', "must be a JSON object"),
    ],
)
@pytest.mark.parametrize(
    ("decode", "topic"), [(decode_batch, TELEMETRY), (decode_state, STATE), (decode_ack, ACK)]
)
def test_payload_level_rejections(
    decode: Decoder, topic: Topic, payload: bytes, words: str
) -> None:
    with pytest.raises(PayloadError) as info:
        decode(topic, payload)
    assert info.value.field == "$"
    assert words in info.value.problem


def test_a_payload_of_exactly_the_limit_is_read() -> None:
    payload = _bytes(_state())
    padded = payload[:-1] + b" " * (MAX_PAYLOAD_BYTES - len(payload)) + b"}"
    assert len(padded) == MAX_PAYLOAD_BYTES
    assert parse_json(padded) == _state()


@pytest.mark.parametrize(
    ("decode", "topic", "make"),
    [
        (decode_batch, TELEMETRY, lambda **c: _batch([_reading(1)], **c)),
        (decode_batch, EVENT, lambda **c: _batch([_event(1)], **c)),
        (decode_state, STATE, _state),
        (decode_ack, ACK, _ack),
    ],
)
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"v": 2}, "v"),
        ({"v": 0}, "v"),
        ({"v": "1"}, "v"),
        ({"v": True}, "v"),  # JSON true == 1 in Python; it is not version 1
        ({"v": 1.0}, "v"),
        ({"v": None}, "v"),
        ({"device": "door-2"}, "device"),
        ({"device": "DOOR-1"}, "device"),
        ({"device": None}, "device"),
        ({"device": ["door-1"]}, "device"),
        ({"extra": 1}, "extra"),
    ],
)
def test_envelope_rejections(
    decode: Decoder, topic: Topic, make: Callable[..., Json], changes: Json, field: str
) -> None:
    assert _field_of(decode, topic, _bytes(make(**changes))) == field


@pytest.mark.parametrize(
    ("decode", "topic", "data"),
    [
        (decode_batch, TELEMETRY, {"device": "door-1", "items": [_reading(1)]}),
        (decode_state, STATE, {"device": "door-1", "status": "online", "ts": TS_TEXT}),
        (decode_ack, ACK, {"device": "door-1", "ranges": [[1, 1]]}),
    ],
)
def test_missing_version_is_a_version_error(decode: Decoder, topic: Topic, data: Json) -> None:
    with pytest.raises(PayloadError) as info:
        decode(topic, _bytes(data))
    assert info.value.field == "v"
    assert "upgrade" in info.value.problem


def test_device_mismatch_message_names_both_devices() -> None:
    with pytest.raises(PayloadError) as info:
        decode_batch(TELEMETRY, _bytes(_batch([_reading(1)], device="door-2")))
    assert "door-2" in info.value.problem
    assert "door-1" in info.value.problem


@pytest.mark.parametrize(
    "items", [[], None, {"0": _reading(1)}, "items", [_reading(1)] * (MAX_BATCH_ITEMS + 1)]
)
def test_batch_items_must_be_a_bounded_list(items: object) -> None:
    assert _field_of(decode_batch, TELEMETRY, _bytes(_batch(items))) == "items"


def test_batch_without_items() -> None:
    assert _field_of(decode_batch, TELEMETRY, _bytes({"v": 1, "device": "door-1"})) == "items"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "busy"}, "status"),
        ({"status": None}, "status"),
        ({"ts": "2025-05-01T03:00:00"}, "ts"),  # no offset: whose 3 a.m.?
        ({"ts": "2019-12-31T23:59:59Z"}, "ts"),
        ({"ts": "yesterday"}, "ts"),
        ({"software": "x" * 201}, "software"),
        ({"software": 1}, "software"),
    ],
)
def test_state_rejections(changes: Json, field: str) -> None:
    assert _field_of(decode_state, STATE, _bytes(_state(**changes))) == field


def test_state_without_ts() -> None:
    data = _state()
    del data["ts"]
    assert _field_of(decode_state, STATE, _bytes(data)) == "ts"


@pytest.mark.parametrize(
    ("ranges", "field"),
    [
        ([], "ranges"),
        (None, "ranges"),
        ([[5, 3]], "ranges"),
        ([[0, 3]], "ranges.0.0"),
        ([[1, 3], [4, MAX_SEQ + 1]], "ranges.1.1"),
        ([[1, 3.5]], "ranges.0.1"),
        ([[True, 3]], "ranges.0.0"),
        ([["1", 3]], "ranges.0.0"),
        ([[1, 2, 3]], "ranges.0"),
        ([[1]], "ranges.0.1"),
        ([[1, 2]] * (MAX_BATCH_ITEMS + 1), "ranges"),
    ],
)
def test_ack_rejections(ranges: object, field: str) -> None:
    assert _field_of(decode_ack, ACK, _bytes(_ack(ranges=ranges))) == field


# --- item-level validation -------------------------------------------------------------


def test_one_absurd_reading_is_rejected_and_its_neighbours_kept() -> None:
    items = [_reading(100), _reading(101), _reading(102, value=9999.0), _reading(103)]
    decoded = decode_batch(TELEMETRY, _bytes(_batch(items)))
    assert [item.seq for item in decoded.items] == [100, 101, 103]
    [bad] = decoded.rejected
    assert bad.seq == 102
    assert bad.error.field == "items.2.value"
    assert "temperature_c" in bad.error.problem
    assert json.loads(bad.raw) == items[2]


@pytest.mark.parametrize(
    ("item", "field", "seq"),
    [
        (_reading(7, value=-56.0), "items.1.value", 7),
        (_reading(7, value=True), "items.1.value", 7),
        (_reading(7, value="21.5"), "items.1.value", 7),
        (_reading(7, value=None), "items.1.value", 7),
        (_reading(7, metric="humidity"), "items.1.metric", 7),
        (_reading(7, ts="2025-05-01 03:00"), "items.1.ts", 7),
        (_reading(7, ts="2101-01-01T00:00:00Z"), "items.1.ts", 7),
        (_reading(7, sensor="../etc"), "items.1.sensor", 7),
        (_reading(7, unit="C"), "items.1.unit", 7),
        (_reading(0), "items.1.seq", None),
        (_reading(-4), "items.1.seq", None),
        (_reading(MAX_SEQ + 1), "items.1.seq", None),  # out of range: never kept nor acked
        (_reading("7"), "items.1.seq", None),  # type: ignore[arg-type]
        (_reading(True), "items.1.seq", None),
        ({"ts": TS_TEXT, "metric": "power_w", "value": 1}, "items.1.seq", None),
        ([1, 2, 3], "items.1", None),
        ("reading", "items.1", None),
        (None, "items.1", None),
    ],
)
def test_reading_item_rejections(item: object, field: str, seq: int | None) -> None:
    decoded = decode_batch(TELEMETRY, _bytes(_batch([_reading(6), item, _reading(8)])))
    assert [r.seq for r in decoded.items] == [6, 8]
    [bad] = decoded.rejected
    assert bad.error.field == field
    assert bad.seq == seq


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (_event(7, type="Door.Open"), "items.0.type"),
        (_event(7, data={f"k{i}": i for i in range(33)}), "items.0.data"),
        (_event(7, data={"nested": {"a": 1}}), "items.0.data.nested"),
        (_event(7, data=[1]), "items.0.data"),
        (_event(7, member="m-1"), "items.0.member"),
    ],
)
def test_event_item_rejections(item: Json, field: str) -> None:
    decoded = decode_batch(EVENT, _bytes(_batch([item])))
    assert decoded.items == []
    [bad] = decoded.rejected
    assert bad.error.field.startswith(field)
    assert bad.seq == 7


def test_readings_are_not_events() -> None:
    decoded = decode_batch(EVENT, _bytes(_batch([_reading(1)])))
    assert decoded.items == []
    assert decoded.rejected[0].error.field.startswith("items.0.")


def test_rejected_raw_is_bounded() -> None:
    item = _event(1, data={"note": "x" * 200, **{f"k{i}": "y" * 200 for i in range(40)}})
    [bad] = decode_batch(EVENT, _bytes(_batch([item]))).rejected
    assert len(bad.raw) == 2000
    assert "more problem" not in bad.error.problem or bad.error.field.startswith("items.0.")


def test_every_item_bad_still_decodes_the_batch() -> None:
    items = [_reading(i, value=1e9) for i in range(1, 6)]
    decoded = decode_batch(TELEMETRY, _bytes(_batch(items)))
    assert decoded.items == []
    assert [bad.seq for bad in decoded.rejected] == [1, 2, 3, 4, 5]
    assert [bad.error.field for bad in decoded.rejected] == [f"items.{i}.value" for i in range(5)]


# --- crash resistance ------------------------------------------------------------------

DECODERS: list[tuple[Decoder, Topic]] = [
    (decode_batch, TELEMETRY),
    (decode_batch, EVENT),
    (decode_state, STATE),
    (decode_ack, ACK),
]


def _decode_or_payload_error(payload: bytes) -> None:
    """Every decoder returns or raises PayloadError; nothing else may escape."""
    for decode, topic in DECODERS:
        try:
            result = decode(topic, payload)
        except PayloadError as exc:
            error: PayloadError | None = exc
        else:
            error = None
        if error is not None:
            assert error.field  # "$" or a path, never empty
            assert error.problem
            continue
        if isinstance(result, DecodedBatch):
            raw_items = json.loads(payload)["items"]
            assert len(result.items) + len(result.rejected) == len(raw_items)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "template",
    [
        '{"v": 1, "device": "door-1", "items": [%s]}',
        '{"v": 1, "device": "door-1", "items": [{"seq": 1, "value": %s}]}',
        '{"v": 1, "device": "door-1", "items": [{"seq": 1, "data": {"k": %s}}]}',
        '{"v": 1, "device": %s, "items": [1]}',
        '{"v": %s}',
        '{"v": 1, "device": "door-1", "ranges": [%s]}',
        '{"v": 1, "device": "door-1", "status": "online", "software": %s}',
    ],
)
def test_nesting_right_at_the_json_limit_does_not_crash(template: str) -> None:
    # The deepest document json.loads accepts must not crash what runs after it
    # (json.dumps of a rejected item, repr of a bad device) with a RecursionError.
    for depth in range(900, 1100, 3):
        _decode_or_payload_error((template % _nested(depth)).encode())


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(payload: bytes) -> None:
    _decode_or_payload_error(payload)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["door-1", TS_TEXT, "temperature_c", "online", "door.decision", 1, 0]),
    lambda children: (
        st.lists(children, max_size=6)
        | st.dictionaries(
            st.sampled_from(["v", "device", "items", "seq", "ts", "value", "ranges", "data", "x"])
            | st.text(max_size=10),
            children,
            max_size=6,
        )
    ),
    max_leaves=40,
)


@FUZZ
@given(json_values)
def test_arbitrary_json(value: object) -> None:
    _decode_or_payload_error(json.dumps(value).encode())


@FUZZ
@given(st.dictionaries(st.sampled_from(["v", "device", "items", "ranges", "status"]), json_values))
def test_arbitrary_json_objects_with_contract_keys(value: Json) -> None:
    _decode_or_payload_error(json.dumps(value).encode())


events = strategy_events(max_keys=8)


@FUZZ
@given(st.lists(readings(), min_size=1, max_size=20))
def test_telemetry_round_trip_property(items: list[Reading]) -> None:
    decoded = decode_batch(TELEMETRY, encode(TelemetryBatch(v=1, device="door-1", items=items)))
    assert decoded.items == items
    assert decoded.rejected == []


@FUZZ
@given(st.lists(events, min_size=1, max_size=20))
def test_event_round_trip_property(items: list[Event]) -> None:
    decoded = decode_batch(EVENT, encode(EventBatch(v=1, device="door-1", items=items)))
    assert decoded.items == items
    assert decoded.rejected == []


@FUZZ
@given(st.lists(seqs, min_size=1, max_size=50))
def test_ack_round_trip_property(acked: list[int]) -> None:
    ack = StorageAck(v=1, device="door-1", ranges=seq_ranges(acked))
    assert decode_ack(ACK, encode(ack)) == ack


def _paths(value: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path into a JSON document, parents before children."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _replace(doc: Any, path: tuple[str | int, ...], new: object, *, delete: bool) -> Any:
    if not path:
        return new
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid payload of some kind with a few of its values replaced, deleted or added."""
    kind = draw(st.sampled_from(["telemetry", "event", "state", "ack"]))
    model: TelemetryBatch | EventBatch | DeviceState | StorageAck
    if kind == "telemetry":
        model = TelemetryBatch(
            v=1, device="door-1", items=draw(st.lists(readings(), min_size=1, max_size=5))
        )
    elif kind == "event":
        model = EventBatch(
            v=1, device="door-1", items=draw(st.lists(events, min_size=1, max_size=5))
        )
    elif kind == "state":
        model = DeviceState(v=1, device="door-1", status="online", ts=draw(timestamps))
    else:
        model = StorageAck(
            v=1, device="door-1", ranges=seq_ranges(draw(st.lists(seqs, min_size=1, max_size=20)))
        )
    doc = json.loads(encode(model))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(_paths(doc)))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "add" and isinstance(doc_at := _get(doc, path), dict):
            doc_at[draw(st.text(max_size=8))] = draw(json_values)
        else:
            doc = _replace(doc, path, draw(json_values), delete=action == "delete" and bool(path))
    return json.dumps(doc).encode()


def _get(doc: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


@FUZZ
@given(mutated())
def test_mutated_valid_payloads(payload: bytes) -> None:
    _decode_or_payload_error(payload)
