"""How a box says it is well: the periodic heartbeat event and the on-demand diagnostics."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from protocol.codec import check_envelope, parse_json, validate_payload
from protocol.commands import CommandId
from protocol.errors import PayloadError
from protocol.ids import Identifier
from protocol.payloads import SCHEMA_VERSION, ShortText, Timestamp
from protocol.topics import Kind, Topic

HEARTBEAT_EVENT: Final = "device.heartbeat"
# A part of a box that stopped working {"sensor", "problem"}, and that works again {"sensor"}.
FAULT_EVENT: Final = "sensor.fault"
RECOVERED_EVENT: Final = "sensor.recovered"
DIAG_QOS: Final = 1
MAX_LOG_LINES: Final = 1000
MAX_LOG_LINE_CHARS: Final = 300


class Heartbeat(BaseModel):
    """The data of a ``device.heartbeat`` event, sent every ``heartbeat_interval_s``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    software: ShortText | None = None
    uptime_s: Annotated[int, Field(ge=0)]
    disk_free_mb: Annotated[int, Field(ge=0)] | None = None
    disk_total_mb: Annotated[int, Field(ge=0)] | None = None
    cpu_temp_c: Annotated[float, Field(ge=-40, le=150)] | None = None
    outbox_depth: Annotated[int, Field(ge=0)]
    config_version: Annotated[int, Field(ge=0)] = 0
    credential_generation: Annotated[int, Field(ge=0)] = 0
    # The issuer key ids a door or kiosk holds, comma-separated ("u-2025,u-2026"): how the
    # cloud knows a new key reached every box before codes are signed with it.
    issuer_keys: ShortText | None = None

    def event_data(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


LogLine = Annotated[str, StringConstraints(max_length=MAX_LOG_LINE_CHARS)]


class Diagnostics(BaseModel):
    """Device -> cloud on ``yz/v1/{venue}/{device}/diag``, answering a diagnostics command.

    Not sequenced and not kept in the outbox: a report that is lost is asked for again.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = SCHEMA_VERSION
    device: Identifier
    command_id: CommandId
    ts: Timestamp
    heartbeat: Heartbeat
    # package -> version: yizhan, python, os, paho-mqtt, opencv, zxing-cpp, gpiozero …
    versions: dict[Annotated[str, StringConstraints(max_length=40)], ShortText] = Field(
        max_length=40
    )
    logs: list[LogLine] = Field(default_factory=list, max_length=MAX_LOG_LINES)


def diag_topic(venue: str, device: str) -> Topic:
    return Topic(venue, device, Kind.DIAG)


def decode_diagnostics(topic: Topic, payload: bytes) -> Diagnostics:
    if topic.kind is not Kind.DIAG:
        raise PayloadError("$", f"topic {topic} does not carry diagnostics")
    data = parse_json(payload)
    check_envelope(data, topic)
    return validate_payload(Diagnostics, data)
