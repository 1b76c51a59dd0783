"""Payload models for every MQTT message: versioned, sequenced, bounded."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from protocol.ids import Identifier
from protocol.metrics import METRICS, check_value

SCHEMA_VERSION: Final = 1
# A broker and a Pi both handle this comfortably; a batch of 500 readings is ~60 KiB.
MAX_PAYLOAD_BYTES: Final = 256 * 1024
MAX_BATCH_ITEMS: Final = 500
# Sequence numbers are seeded from the clock in microseconds (see edge/outbox.py); 2^62
# leaves centuries of headroom and stays inside a signed 64-bit database column.
MAX_SEQ: Final = 2**62
MAX_EVENT_DATA_KEYS: Final = 32

_EARLIEST: Final = datetime(2020, 1, 1, tzinfo=UTC)
_LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)


def _plausible_time(value: datetime) -> datetime:
    if not _EARLIEST <= value < _LATEST:
        raise ValueError(
            f"time {value.isoformat()} is not between 2020 and 2100; is the device clock set?"
        )
    return value.astimezone(UTC)


Timestamp = Annotated[AwareDatetime, AfterValidator(_plausible_time)]
Seq = Annotated[int, Field(ge=1, le=MAX_SEQ, strict=True)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
EventType = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=48)
]
SensorId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
MAX_TEXT_VALUE: Final = 200


def _clean_text(value: str) -> str:
    """Text the databases and JSON can keep: no NUL (PostgreSQL's json refuses to read a
    value holding one, and every query touching that row fails) and no lone surrogate
    (JSON's escapes can make one; it cannot be written out as UTF-8)."""
    if "\x00" in value:
        raise ValueError("text may not contain NUL (\\u0000)")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("text must be Unicode characters, not a lone surrogate") from None
    return value


def _scalar(value: object) -> bool | int | float | str | None:
    """One event data value; a plain validator so a bad one gets one clear message
    instead of pydantic's attempt at every member of the union."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite (no NaN or infinity)")
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT_VALUE:
            raise ValueError(f"text is {len(value)} characters; at most {MAX_TEXT_VALUE} fit")
        return _clean_text(value)
    raise ValueError(f"must be a number, text, true/false or null, not {type(value).__name__}")


Scalar = Annotated[bool | int | float | str | None, PlainValidator(_scalar)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Reading(_Model):
    """One sensor value at one moment."""

    seq: Seq
    ts: Timestamp
    metric: str = Field(max_length=40)
    # strict: a JSON number only; lax mode would read `true` as 1.0 and "12.5" as 12.5.
    value: float = Field(strict=True)
    sensor: SensorId | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in METRICS:
            raise ValueError(
                f"unknown metric {metric!r}; known metrics: {', '.join(sorted(METRICS))}"
            )
        return metric

    @field_validator("value")
    @classmethod
    def _in_range(cls, value: float, info: ValidationInfo) -> float:
        metric = info.data.get("metric")
        if isinstance(metric, str):  # absent when the metric itself was refused
            problem = check_value(metric, value)
            if problem is not None:
                raise ValueError(problem)
        return value


class Event(_Model):
    """Something that happened on the device: a door decision, a jam, an outbox overflow."""

    seq: Seq
    ts: Timestamp
    type: EventType
    data: dict[
        Annotated[str, StringConstraints(max_length=40), AfterValidator(_clean_text)], Scalar
    ] = Field(default_factory=dict, max_length=MAX_EVENT_DATA_KEYS)


class _Envelope(_Model):
    v: Literal[1]
    device: Identifier


class TelemetryBatch(_Envelope):
    items: list[Reading] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class EventBatch(_Envelope):
    items: list[Event] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)


class DeviceState(_Envelope):
    """Retained presence. Not sequenced: the newest ``ts`` wins, and the broker's last
    will publishes ``status="offline"`` (with the ``ts`` of the connection it ended)."""

    status: Literal["online", "offline"]
    ts: Timestamp
    software: ShortText | None = None


class StorageAck(_Envelope):
    """Cloud -> device: these sequence numbers are stored (or were already), delete them.

    ``ranges`` holds inclusive ``[first, last]`` pairs so a batch of 500 costs a few bytes.
    """

    ranges: list[tuple[Seq, Seq]] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)

    @field_validator("ranges")
    @classmethod
    def _ordered(cls, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
        # A reversed pair would make the device's inclusive delete match nothing, silently.
        for first, last in ranges:
            if first > last:
                raise ValueError(f"range [{first}, {last}] is reversed; write [first, last]")
        return ranges


UplinkBatch = TelemetryBatch | EventBatch
Item = Reading | Event


def seq_ranges(seqs: list[int]) -> list[tuple[int, int]]:
    """Compress sequence numbers into sorted inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges
