"""What ingest makes of one MQTT message: a batch, a state, a diagnostics report, or a rejection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from protocol.codec import DecodedBatch, decode_batch, decode_state, parse_json
from protocol.errors import PayloadError, ProtocolError
from protocol.health import Diagnostics, decode_diagnostics
from protocol.payloads import MAX_PAYLOAD_BYTES, DeviceState
from protocol.topics import UPLINK_KINDS, Kind, Topic

PAYLOAD_KEEP = 8 * 1024  # bytes of a refused payload kept for a person to inspect
# 19 digits: the shortest integer that may not fit orjson's 64 bits (-9999999999999999999).
# Found by mapping every digit to "0" and everything else to " " (bytes.translate, in C) and
# looking for nineteen "0"s: 5 µs a kilobyte, where a regular expression took 80.
_DIGITS_ONLY: Final = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER: Final = b"0" * 19


@dataclass(frozen=True, slots=True)
class Rejection:
    topic: str
    device_id: str | None
    seq: int | None
    field: str
    reason: str
    size: int
    payload: str


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received message, classified. Exactly one of batch/state/diag/rejection is set."""

    mid: int
    batch: DecodedBatch | None = None
    state: tuple[Topic, DeviceState] | None = None
    diag: tuple[Topic, Diagnostics] | None = None
    rejection: Rejection | None = None

    @property
    def topic(self) -> Topic | None:
        """The device topic of a decoded message; None for a rejection."""
        if self.batch is not None:
            return self.batch.topic
        found = self.state or self.diag
        return found[0] if found else None


def read_json(payload: bytes) -> dict[str, Any]:
    """:func:`protocol.codec.parse_json`, faster for the messages boxes send.

    orjson reads an object in about half the standard library's time. Whatever it does not
    return as an object (it refuses NaN and lone surrogates; or the payload is no object, or
    too big) goes to ``parse_json``, which accepts or refuses it as always and says why: so
    the two read every payload alike (tests/cloud/ingest/test_read_json.py). orjson reads an
    integer past 64 bits as a float where the standard library keeps the integer, so a
    payload with a run of 19 digits anywhere is left to the standard library too.
    """
    if len(payload) <= MAX_PAYLOAD_BYTES and _LONG_NUMBER not in payload.translate(_DIGITS_ONLY):
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
        else:
            if type(data) is dict:
                return data
    return parse_json(payload)


def _reject(
    mid: int, topic: str, payload: bytes, error: ProtocolError, device: str | None
) -> Inbound:
    field = error.field if isinstance(error, PayloadError) else "topic"
    kept = payload[:PAYLOAD_KEEP].decode("utf-8", errors="replace")
    return Inbound(
        mid,
        rejection=Rejection(topic[:300], device, None, field[:200], str(error), len(payload), kept),
    )


def classify(mid: int, topic_text: str, payload: bytes) -> Inbound:
    """Decode a message with the shared codec; never raises."""
    device: str | None = None
    try:
        topic = Topic.parse(topic_text)
        device = topic.device
        if topic.kind not in UPLINK_KINDS:
            raise PayloadError(
                "$", f"{topic.kind} is a cloud-to-device topic; devices may not publish it"
            )
        if topic.kind is Kind.STATE:
            return Inbound(mid, state=(topic, decode_state(topic, payload)))
        if topic.kind is Kind.DIAG:
            return Inbound(mid, diag=(topic, decode_diagnostics(topic, payload)))
        return Inbound(mid, batch=decode_batch(topic, payload, parse=read_json))
    except ProtocolError as exc:
        return _reject(mid, topic_text, payload, exc, device)


def unclassifiable(mid: int, topic: str, payload: bytes, error: Exception) -> Inbound:
    """A message the codec failed on (a bug, not the sender's fault) as a rejection."""
    problem = PayloadError(
        "$", f"ingest could not read this message ({type(error).__name__}); it is kept unstored"
    )
    return _reject(mid, topic, payload, problem, None)


def unstorable(message: Inbound, error: Exception) -> Inbound:
    """The same message as a rejection, after the database refused its content."""
    if message.rejection is not None:
        rejection = message.rejection
        reason = f"{rejection.reason}; and it could not be stored: {type(error).__name__}"
        return Inbound(
            message.mid,
            rejection=Rejection(
                rejection.topic,
                rejection.device_id,
                rejection.seq,
                rejection.field,
                reason,
                rejection.size,
                "",
            ),
        )
    topic = message.topic
    return Inbound(
        message.mid,
        rejection=Rejection(
            str(topic) if topic else "",
            topic.device if topic else None,
            None,
            "$",
            f"the database refused this message ({type(error).__name__}); it is kept here unstored",
            0,
            "",
        ),
    )
