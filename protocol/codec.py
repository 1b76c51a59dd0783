"""The one encoder/decoder every side uses: bytes <-> validated payload models."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from protocol.errors import PayloadError
from protocol.fastpath import fast_event, fast_reading
from protocol.ids import check_id
from protocol.payloads import (
    MAX_BATCH_ITEMS,
    MAX_PAYLOAD_BYTES,
    MAX_SEQ,
    SCHEMA_VERSION,
    DeviceState,
    Event,
    EventBatch,
    Reading,
    StorageAck,
    TelemetryBatch,
)
from protocol.topics import Kind, Topic

M = TypeVar("M", bound=BaseModel)

_ITEM_MODEL: Final[dict[Kind, type[Reading] | type[Event]]] = {
    Kind.TELEMETRY: Reading,
    Kind.EVENT: Event,
}
# Each model's fast path (protocol/fastpath.py): the same answer for what boxes send, cheaper.
_FAST_ITEM: Final[dict[Kind, Callable[[object, dict[str, datetime]], Reading | Event | None]]] = {
    Kind.TELEMETRY: fast_reading,
    Kind.EVENT: fast_event,
}
JsonParser = Callable[[bytes], dict[str, Any]]


def encode(message: BaseModel) -> bytes:
    """Serialize a payload model to compact UTF-8 JSON."""
    return message.model_dump_json(exclude_none=True).encode()


def _error_from(exc: ValidationError, *, prefix: Sequence[str | int] = ()) -> PayloadError:
    first = exc.errors(include_url=False)[0]
    loc = [*prefix, *first["loc"]]
    where = ".".join(str(part) for part in loc) or "$"
    problem = str(first["msg"]).removeprefix("Value error, ")
    more = exc.error_count() - 1
    if more:
        problem += f" (and {more} more problem{'s' if more > 1 else ''})"
    return PayloadError(where, problem)


def parse_json(payload: bytes) -> dict[str, Any]:
    """Bytes -> a JSON object, or :class:`PayloadError` saying why not."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            "$",
            f"payload is {len(payload)} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit; "
            "send smaller batches",
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("$", f"payload is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError("$", f"payload is not JSON: {exc.msg} at char {exc.pos}") from None
    except (ValueError, RecursionError):  # 5000-digit ints, 10000-deep arrays
        raise PayloadError(
            "$", "payload JSON is too deeply nested or has an absurd number"
        ) from None
    if not isinstance(data, dict):
        raise PayloadError("$", f"payload must be a JSON object, not {type(data).__name__}")
    return data


def _check_envelope(data: dict[str, Any], topic: Topic) -> None:
    version = data.get("v")
    # `type() is int`: JSON `true` and `1.0` compare equal to 1 in Python but are not version 1.
    if type(version) is not int or version != SCHEMA_VERSION:
        raise PayloadError(
            "v",
            f"schema version {version!r} is not supported; this side speaks "
            f"{SCHEMA_VERSION}: upgrade the older of device and cloud",
        )
    device = data.get("device")
    if device != topic.device:
        raise PayloadError(
            "device",
            f"payload names device {str(device)[:40]!r} but was published on the "
            f"topic of device {topic.device!r}",
        )


def valid_seq(value: object) -> int | None:
    """``value`` if it is a sequence number a device may use (1..MAX_SEQ), else None.

    Only such a seq may be kept with a refused item and acked: anything else would not fit
    the ack model or a BIGINT column, and no real device can have sent it anyway.
    """
    if type(value) is int and 1 <= value <= MAX_SEQ:
        return value
    return None


@dataclass(frozen=True, slots=True)
class RejectedItem:
    """One item of an otherwise valid batch that failed validation."""

    seq: int | None
    error: PayloadError
    raw: str


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A batch whose envelope is valid: the items that passed and the ones that did not.

    Items are validated one by one so a single absurd reading does not make the device
    resend (and the cloud refuse) its 499 good neighbours forever.
    """

    topic: Topic
    items: list[Reading] | list[Event]
    rejected: list[RejectedItem] = field(default_factory=list)


def decode_batch(topic: Topic, payload: bytes, *, parse: JsonParser | None = None) -> DecodedBatch:
    """Decode a telemetry or event batch published on ``topic``.

    ``parse`` reads the JSON; it must accept and refuse what :func:`parse_json` does (ingest
    passes a faster one that falls back to it).
    """
    model = _ITEM_MODEL.get(topic.kind)
    if model is None:
        raise PayloadError("$", f"{topic.kind} topics do not carry batches")
    fast = _FAST_ITEM[topic.kind]
    data = (parse or parse_json)(payload)
    _check_envelope(data, topic)
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= MAX_BATCH_ITEMS:
        raise PayloadError("items", f"must be a list of 1..{MAX_BATCH_ITEMS} items")
    unknown = set(data) - {"v", "device", "items"}
    if unknown:
        # Bounded and never empty: the key comes from the sender and `field` is shown to people.
        name = sorted(unknown)[0]
        raise PayloadError(name[:40] or '""', f"{name[:40]!r} is not a field of a batch; remove it")
    good: list[Any] = []
    rejected: list[RejectedItem] = []
    seen: dict[str, datetime] = {}  # the times the batch's items share, read once
    for index, raw in enumerate(raw_items):
        item = fast(raw, seen)
        if item is not None:
            good.append(item)
            continue
        try:
            good.append(model.model_validate(raw))
        except ValidationError as exc:
            seq = valid_seq(raw.get("seq") if isinstance(raw, dict) else None)
            error = _error_from(exc, prefix=("items", index))
            rejected.append(RejectedItem(seq, error, json.dumps(raw)[:2000]))
    return DecodedBatch(topic, good, rejected)


def _check_kind(topic: Topic, kind: Kind) -> None:
    if topic.kind is not kind:
        raise PayloadError("$", f"{topic.kind} topics do not carry {kind} payloads")


def decode_state(topic: Topic, payload: bytes) -> DeviceState:
    _check_kind(topic, Kind.STATE)
    data = parse_json(payload)
    _check_envelope(data, topic)
    return _validate(DeviceState, data)


def decode_ack(topic: Topic, payload: bytes) -> StorageAck:
    _check_kind(topic, Kind.ACK)
    data = parse_json(payload)
    _check_envelope(data, topic)
    return _validate(StorageAck, data)


def _validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _error_from(exc) from None


def encode_prevalidated_batch(device: str, items_json: Sequence[str]) -> bytes:
    """Assemble a batch from items each already serialized by its model.

    The edge validates every item when it enters the outbox (``Reading``/``Event``), so
    the sender only wraps the stored JSON instead of parsing and re-validating it.
    """
    check_id(device, what="device")
    return (
        f'{{"v":{SCHEMA_VERSION},"device":"{device}","items":[{",".join(items_json)}]}}'
    ).encode()


def batch_for(
    kind: Kind, device: str, items: Sequence[Reading | Event]
) -> TelemetryBatch | EventBatch:
    """Build the batch model for ``kind`` (the edge's sender uses this)."""
    if kind is Kind.TELEMETRY:
        return TelemetryBatch(
            v=SCHEMA_VERSION, device=device, items=[i for i in items if isinstance(i, Reading)]
        )
    if kind is Kind.EVENT:
        return EventBatch(
            v=SCHEMA_VERSION, device=device, items=[i for i in items if isinstance(i, Event)]
        )
    raise PayloadError("$", f"{kind} topics do not carry batches")


# Public names for decoders of payloads defined outside this module (protocol/commands.py),
# so every decoder runs the same JSON and envelope checks instead of its own copy of them.
check_envelope = _check_envelope
validate_payload = _validate
