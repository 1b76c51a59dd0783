"""Desired configuration pushed to one device: versioned, retained, validated on both sides.

The cloud publishes it retained on ``yz/v1/{venue}/{device}/config``, so a box that was off
gets the newest one as soon as it connects. ``settings`` is a fragment of the box's own TOML
settings (``sample_interval_s``, ``[door.policy]``, ``[kiosk]`` …) laid over the local file;
what says *who* the box is or *where* it connects (its ids, data folder, broker, hardware
wiring) is not pushable, so a config cannot move a box or point it at another broker.

The cloud checks what it can before publishing (every pushable key's type and range with the
models in ``protocol/pushable.py``, the door policy with the very model the box uses, see
``protocol/door_policy.py``); the box validates the whole result again, applies it
in one step, and reports ``config.applied`` or ``config.rejected`` with the reasons.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from protocol.codec import check_envelope, parse_json, validate_payload
from protocol.commands import IssuedBy
from protocol.door_policy import DoorPolicyConfig, describe_errors
from protocol.errors import PayloadError
from protocol.ids import Identifier
from protocol.payloads import SCHEMA_VERSION, Timestamp
from protocol.pushable import ConfigProblem, pushable_problems
from protocol.topics import Kind, Topic

CONFIG_QOS: Final = 1
APPLIED_EVENT: Final = "config.applied"
REJECTED_EVENT: Final = "config.rejected"
MAX_SETTINGS_BYTES: Final = 64 * 1024
# Identity, connection and wiring stay with the box (its TOML file and its claim bundle).
NOT_PUSHABLE: Final = frozenset(
    {
        "venue",
        "device",
        "role",
        "data_dir",
        "mqtt_host",
        "mqtt_port",
        "mqtt_username",
        "mqtt_password",
        "mqtt_client_id",
        "mqtt_tls",
        "mqtt_ca_file",
        "api_ca_file",
        "hardware",
        "provision",
    }
)
# Inside a section: pins are wiring, tokens are credentials, URLs say where the box connects;
# a door's screen and voice are its wiring and sound card (an ALSA name can write files).
NOT_PUSHABLE_IN_SECTION: Final = frozenset(
    {
        "pins",
        "sync_token",
        "api_token",
        "cloud_token",
        "sync_url",
        "cloud_url",
        "api_url",
        "screen",
        "voice",
    }
)
# How many reasons a config.rejected event carries (event values are short texts).
MAX_REPORTED_ERRORS: Final = 5


class DesiredConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = SCHEMA_VERSION
    device: Identifier
    version: Annotated[int, Field(ge=1, lt=2**62, strict=True)]
    issued_at: Timestamp
    issued_by: IssuedBy
    settings: dict[str, Any]

    @field_validator("settings")
    @classmethod
    def _pushable(cls, value: dict[str, Any]) -> dict[str, Any]:
        problems = config_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value


def config_problems(settings: dict[str, Any]) -> list[str]:
    """Every reason ``settings`` cannot be pushed to any box, each with where and what to do.

    What a box checks before it lays pushed settings over its file (size, keys that are not
    pushable, the door policy); the box's own model then names every other problem with its
    layer. The cloud checks more, knowing the box's role: :func:`check_config`.
    """
    problems = [str(p) for p in _not_pushable(settings)]
    door = settings.get("door")
    if not problems and isinstance(door, dict) and "policy" in door:
        try:
            DoorPolicyConfig.model_validate(door["policy"])
        except ValidationError as exc:
            problems += [f"door.policy.{line}" for line in describe_errors(exc)]
    return problems


def check_config(settings: dict[str, Any], *, role: str | None = None) -> list[ConfigProblem]:
    """Every reason ``settings`` cannot be pushed to a box of ``role``, with stable codes.

    Size, keys that are not pushable, then every key's spelling, type and range with the
    box's own ranges (:mod:`protocol.pushable`), the door policy, another role's section.
    """
    return _not_pushable(settings) or pushable_problems(settings, role=role)


def _not_pushable(settings: dict[str, Any]) -> list[ConfigProblem]:
    size = len(json.dumps(settings, default=str))
    if size > MAX_SETTINGS_BYTES:
        return [
            ConfigProblem(
                "settings",
                "too_large",
                f"are {size} bytes as JSON; at most {MAX_SETTINGS_BYTES} can be pushed",
            )
        ]
    problems = [
        ConfigProblem(
            key,
            "not_pushable",
            "is the box's own (identity, broker or wiring) and cannot be pushed; "
            "change it in the box's TOML file or re-claim the box",
        )
        for key in sorted(settings.keys() & NOT_PUSHABLE)
    ]
    for section, body in settings.items():
        if isinstance(body, dict):
            problems += [
                ConfigProblem(
                    f"{section}.{key}", "not_pushable", "is the box's own and cannot be pushed"
                )
                for key in sorted(body.keys() & NOT_PUSHABLE_IN_SECTION)
            ]
    return problems


def settings_from_toml(data: dict[str, Any]) -> dict[str, Any]:
    """A TOML file's settings as the JSON a config carries; :class:`PayloadError` if it cannot be.

    TOML has dates, times and date-times that JSON has not: each becomes its ISO 8601 text,
    which the box's models (``ExceptionDays.date`` …) parse back to the very same value, so a
    dated exception pushed means what it means in the box's own file. ``nan`` and ``inf``
    have no JSON form and no setting takes them: they are refused, naming the key.
    """
    return {key: _json_value(value, key) for key, value in data.items()}


def _json_value(value: object, where: str) -> Any:
    if isinstance(value, dict):
        return {k: _json_value(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v, f"{where}.{i}") for i, v in enumerate(value)]
    if isinstance(value, dt.date | dt.time):  # dt.datetime is a dt.date
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise PayloadError(where, f"{value} cannot be pushed; write a finite number")
    return value


def config_topic(venue: str, device: str) -> Topic:
    return Topic(venue, device, Kind.CONFIG)


def decode_config(topic: Topic, payload: bytes) -> DesiredConfig:
    """A desired config as the box receives it; :class:`PayloadError` says what is wrong."""
    if topic.kind is not Kind.CONFIG:
        raise PayloadError("$", f"topic {topic} does not carry configs")
    data = parse_json(payload)
    check_envelope(data, topic)
    return validate_payload(DesiredConfig, data)


def rejected_event_data(version: int, problems: list[str]) -> dict[str, Any]:
    """A ``config.rejected`` event's data: the version and the first reasons, each short."""
    data: dict[str, Any] = {"version": version, "errors": len(problems)}
    for index, problem in enumerate(problems[:MAX_REPORTED_ERRORS], start=1):
        data[f"error_{index}"] = problem[:200]
    return data


def rejected_reasons(data: dict[str, Any]) -> list[str]:
    """The reasons a ``config.rejected`` event carries, in order."""
    return [
        str(data[f"error_{i}"])
        for i in range(1, MAX_REPORTED_ERRORS + 1)
        if isinstance(data.get(f"error_{i}"), str)
    ]
