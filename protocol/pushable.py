"""What the cloud may push to a box, per role: each key with its type, range and default.

A pushed config is a fragment of the box's TOML (``edge/settings.py``); these models hold the
pushable part of it, with the ranges and defaults of the box's own models, so the cloud
refuses ``sample_interval_s = -5`` or a misspelt key at once instead of the box refusing it
later (a test holds the two in step: ``tests/cloud/devices/test_config_validation.py``).
Each refusal is a :class:`ConfigProblem`: the key, a stable code a page translates, and a
sentence saying what to write instead.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
from dataclasses import dataclass
from typing import Any, Final, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from protocol.door_policy import DoorPolicyConfig, describe_errors

# Stable codes of a refused key, pydantic's error type -> code: the same words the API uses
# for every other field (cloud/api/errors.py), so a page translates each code once.
TYPE_CODES: Final = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "greater_than": "value_too_small",
    "greater_than_equal": "value_too_small",
    "less_than": "value_too_large",
    "less_than_equal": "value_too_large",
    "int_parsing": "not_a_number",
    "int_type": "not_a_number",
    "int_from_float": "not_a_whole_number",
    "float_parsing": "not_a_number",
    "float_type": "not_a_number",
    "finite_number": "not_a_number",
    "bool_parsing": "not_yes_or_no",
    "bool_type": "not_yes_or_no",
    "string_type": "not_text",
    "literal_error": "not_one_of",
    "date_parsing": "not_a_date",
    "date_from_datetime_parsing": "not_a_date",
    "date_type": "not_a_date",
    "dict_type": "not_an_object",
    "model_type": "not_an_object",
    "model_attributes_type": "not_an_object",
    "list_type": "not_a_list",
    "tuple_type": "not_a_list",
}
# A door policy's own rule (policy_config) and anything else: its sentence says what to write.
OTHER: Final = "invalid_value"
CODES: Final = frozenset({*TYPE_CODES.values(), OTHER, "not_pushable", "too_large", "wrong_role"})
_TYPES: Final = frozenset({"not_a_number", "not_a_whole_number", "not_yes_or_no", "not_text"})
_LIMITS: Final = ("ge", "gt", "le", "lt")
# The longest a door or kiosk may go on deciding from caches it could not refresh: a month.
MAX_OFFLINE_AGE_S: Final = 30 * 86_400
ROLE_SECTIONS: Final = {"door": "door", "kiosk": "kiosk"}  # section -> the role that has it


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One key that cannot be pushed: where, a stable code, and what to do."""

    key: str
    code: str
    message: str
    rule: str = ""  # the range or the choices, when the code is about them
    # The limit broken, as the API names it for every other field: {"limit": 0.05}.
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class _Pushed(BaseModel):
    # NaN and Infinity parse from a JSON body; none of them is a setting (an infinite
    # max_offline_age_s would turn off the door's refusal of stale caches).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PushedScanner(_Pushed):
    """``[door.scanner]`` / ``[kiosk.scanner]``: the camera and its decoder."""

    source: int | str = Field(
        default=0, description="camera: V4L2 index, /dev/video… or rtsp:// URL"
    )
    decoder: Literal["zxing", "opencv", "opencv-aruco"] = Field(
        default="zxing", description="QR decoder"
    )
    fps: float = Field(default=10.0, gt=0, le=60, description="frames read per second")
    width: int = Field(default=1280, ge=160, le=3840, description="frame width, pixels")
    height: int = Field(default=720, ge=120, le=2160, description="frame height, pixels")

    @field_validator("source")
    @classmethod
    def _a_camera(cls, value: int | str) -> int | str:
        # From the cloud a camera, never a file on the box or a stream on another scheme.
        if isinstance(value, int):
            if not 0 <= value <= 63:
                raise ValueError(f"camera index {value} is not a V4L2 index; use 0 to 63")
        elif not value.startswith(("/dev/video", "rtsp://", "rtsps://")):
            raise ValueError("a camera is a V4L2 index, /dev/videoN or an rtsp:// address")
        return value


class PushedDoorAccess(_Pushed):
    """``[door.access]``: how codes are checked and how often the caches are refreshed."""

    skew_s: float = Field(default=30.0, ge=0, le=600, description="clock skew a code may have")
    max_offline_age_s: float = Field(
        default=7 * 86_400,
        gt=0,
        le=MAX_OFFLINE_AGE_S,
        description="refuse everyone once the caches are this old",
    )
    sync_interval_s: float = Field(default=300.0, ge=5, le=86_400, description="cache refresh")
    unsynced_proof_window_s: float = Field(
        default=86_400.0, ge=0, le=7 * 86_400, description="codes ahead of an unsynced clock"
    )


class PushedDoor(_Pushed):
    """``[door]``: the policy (a whole :class:`DoorPolicyConfig`), camera, checks, timings."""

    policy: DoorPolicyConfig | None = Field(default=None, description="the door policy")
    scanner: PushedScanner | None = None
    access: PushedDoorAccess | None = None
    pulse_s: float = Field(default=5.0, gt=0, le=60, description="lock open per member")
    held_open_s: float = Field(default=60.0, gt=0, le=3600, description="held-open alarm after")


class PushedOffline(_Pushed):
    """``[kiosk.offline]``: offline redemption limits (the box checks they fit together)."""

    enabled: bool = Field(default=False, description="redeem points while offline")
    max_per_redemption: int = Field(default=0, ge=0, le=1_000_000, description="points")
    max_per_member_day: int = Field(default=0, ge=0, le=10_000_000, description="points")
    max_consecutive: int = Field(default=0, ge=0, le=1000, description="redemptions")


class PushedKioskAccess(_Pushed):
    skew_s: float = Field(default=30.0, ge=0, le=600, description="clock skew a code may have")
    max_offline_age_s: float = Field(
        default=7 * 86_400,
        gt=0,
        le=MAX_OFFLINE_AGE_S,
        description="refuse everyone once the caches are this old",
    )
    sync_interval_s: float = Field(default=300.0, ge=5, le=86_400, description="cache refresh")


class PushedKiosk(_Pushed):
    """``[kiosk]`` without its id, wiring and credentials."""

    dispense_timeout_s: float = Field(default=8.0, gt=0, le=60, description="jam after")
    cloud_timeout_s: float = Field(default=5.0, gt=0, le=60, description="cloud call timeout")
    screen_port: int = Field(default=8700, ge=0, le=65535, description="0: any free port")
    session_s: float = Field(default=60.0, gt=0, le=600, description="idle member session")
    timezone: str = Field(default="Asia/Shanghai", description="for the offline daily limit")
    reconcile_interval_s: float = Field(default=30.0, ge=1, le=3600, description="resend")
    offline: PushedOffline | None = None
    access: PushedKioskAccess | None = None
    scanner: PushedScanner | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value[:40]!r}; use an IANA name") from None
        return value


class PushedSettings(_Pushed):
    """The top level of a pushed config: the intervals every box has, and role sections."""

    heartbeat_interval_s: float = Field(default=60.0, ge=5, le=3600, description="heartbeat")
    sample_interval_s: float = Field(
        default=60.0, ge=0.05, le=3600, description="seconds between sensor readings"
    )
    outbox_max_rows: int = Field(default=500_000, ge=100, description="queue kept offline")
    batch_size: int = Field(default=200, ge=1, le=500, description="messages per batch")
    resend_after_s: float = Field(default=30.0, ge=1, le=3600, description="resend unconfirmed")
    drain_on_stop_s: float = Field(default=5.0, ge=0, le=300, description="drain on stop")
    door: PushedDoor | None = None
    kiosk: PushedKiosk | None = None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One pushable key, as a form shows it."""

    path: str  # dotted: "door.access.sync_interval_s"
    kind: Literal["number", "integer", "boolean", "choice", "text", "policy"]
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[str, ...] = ()

    @property
    def rule(self) -> str:
        """The range or choices in words: ``from 0.05 to 3600``, ``above 0``."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        low = None if self.minimum is None else f"{self.minimum:g}"
        high = None if self.maximum is None else f"{self.maximum:g}"
        if (
            low is not None
            and high is not None
            and not (self.exclusive_minimum or self.exclusive_maximum)
        ):
            return f"from {low} to {high}"
        parts = []
        if low is not None:
            parts.append(f"above {low}" if self.exclusive_minimum else f"at least {low}")
        if high is not None:
            parts.append(f"below {high}" if self.exclusive_maximum else f"at most {high}")
        return " and ".join(parts)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _kind(annotation: Any) -> KeyInfo | None:
    if get_origin(annotation) is Literal:
        return KeyInfo("", "choice", None, "", choices=tuple(str(a) for a in get_args(annotation)))
    if get_origin(annotation) in (Union, types.UnionType):
        return None  # int | str: a text field
    kinds: dict[Any, Literal["boolean", "integer", "number"]] = {
        bool: "boolean",
        int: "integer",
        float: "number",
    }
    kind = kinds.get(annotation)
    return None if kind is None else KeyInfo("", kind, None, "")


_BOUNDS: Final = (
    ("ge", "minimum", False),
    ("gt", "minimum", True),
    ("le", "maximum", False),
    ("lt", "maximum", True),
)


def _leaf(path: str, field: Any) -> KeyInfo:
    shape = _kind(field.annotation) or KeyInfo("", "text", None, "")
    bounds: dict[str, Any] = {}
    # pydantic keeps Field(ge=…) as annotated-types objects with one attribute each.
    for item in field.metadata:
        for name, side, exclusive in _BOUNDS:
            if getattr(item, name, None) is not None:
                bounds[side] = float(getattr(item, name))
                bounds[f"exclusive_{side}"] = exclusive
    return KeyInfo(
        path,
        shape.kind,
        field.default,
        field.description or "",
        choices=shape.choices,
        **bounds,
    )


def _walk(model: type[BaseModel], prefix: str) -> list[KeyInfo]:
    keys: list[KeyInfo] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        inner = _model_of(field.annotation)
        if inner is DoorPolicyConfig:
            keys.append(KeyInfo(path, "policy", None, field.description or ""))
        elif inner is not None:
            keys += _walk(inner, f"{path}.")
        else:
            keys.append(_leaf(path, field))
    return keys


ALL_KEYS: Final = tuple(_walk(PushedSettings, ""))
_BY_PATH: Final = {key.path: key for key in ALL_KEYS}


def pushable_keys(role: str | None) -> list[KeyInfo]:
    """The keys a box of ``role`` takes (every key when the role is not known)."""
    other = {section for section, owner in ROLE_SECTIONS.items() if role and owner != role}
    return [key for key in ALL_KEYS if key.path.split(".", 1)[0] not in other]


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _code(kind: str) -> str:
    return TYPE_CODES.get(kind, OTHER)


def _params(error: Any) -> dict[str, Any]:
    ctx = error.get("ctx") or {}
    limits = [ctx[k] for k in _LIMITS if isinstance(ctx.get(k), int | float)]
    params: dict[str, Any] = {"limit": limits[0]} if limits else {}
    if error["type"] in {"greater_than", "less_than"}:
        params["exclusive"] = True
    return params


def _one_limit(code: str, params: dict[str, Any]) -> str:
    side = (
        ("above" if params.get("exclusive") else "at least")
        if code == "value_too_small"
        else ("below" if params.get("exclusive") else "at most")
    )
    return f"{side} {params.get('limit', '?')}"


def _unknown(path: str) -> str:
    parent, _, name = path.rpartition(".")
    prefix = f"{parent}." if parent else ""
    names = sorted(
        {k.path[len(prefix) :].split(".")[0] for k in ALL_KEYS if k.path.startswith(prefix)}
    )
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}?" if close else "remove it"
    return f"is not a setting the box takes; {hint} (it takes: {', '.join(names)})"


def _problem(error: Any, line: str) -> ConfigProblem:
    path = _path(tuple(error["loc"]))
    code = _code(error["type"])
    info = _BY_PATH.get(path)
    value = error.get("input")
    if code == "unknown_field":
        return ConfigProblem(path, code, _unknown(path))
    if code in {"value_too_small", "value_too_large"}:
        params = _params(error)
        rule = info.rule if info is not None else _one_limit(code, params)
        message = f"{value!r} is out of range; write a number {rule}"
        return ConfigProblem(path, code, message, rule, params)
    if info is not None and code in _TYPES:
        wanted = {"boolean": "true or false", "integer": "a whole number"}.get(
            info.kind, "a number"
        )
        return ConfigProblem(path, code, f"{value!r} is not {wanted}; write {wanted}", info.rule)
    if info is not None and code == "not_one_of":
        return ConfigProblem(path, code, f"{value!r} is not {info.rule}", info.rule)
    # The door policy's own sentences (protocol/door_policy.py) say what to write.
    return ConfigProblem(path, code, line.partition(": ")[2] or line)


def pushable_problems(settings: dict[str, Any], *, role: str | None) -> list[ConfigProblem]:
    """Type, range and spelling of every key in ``settings``; sections of another role."""
    problems = [
        ConfigProblem(
            section,
            "wrong_role",
            f"a {role} box has no [{section}] section; push it to a {owner} box",
        )
        for section, owner in ROLE_SECTIONS.items()
        if role is not None and owner != role and section in settings
    ]
    try:
        PushedSettings.model_validate(settings)
    except ValidationError as exc:
        lines = describe_errors(exc)
        problems += [_problem(e, line) for e, line in zip(exc.errors(), lines, strict=True)]
    return problems
