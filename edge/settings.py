"""Edge agent settings: a TOML file, YZ_EDGE_* variables and flags, validated in one place.

A box's effective settings are layers, each over the one before: its TOML file (over
YZ_EDGE_* variables), its identity from the claim, the config the cloud pushed, and
command-line flags. They are merged first and validated once, so every problem is listed
together with the layer it came from.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from edge.cloud_http import cloud_tls
from edge.config_report import Layers, describe, report
from edge.door.face_settings import ScreenSettings, VoiceSettings
from edge.errors import EdgeError
from edge.hardware.door import DoorPins
from edge.kiosk.settings import KioskSettings
from edge.provision.applied import AppliedConfig, read_applied, write_applied
from edge.provision.errors import ProvisionError
from edge.provision.identity import Identity
from edge.scan.settings import ScannerSettings
from protocol.device_config import config_problems
from protocol.door_policy import DoorPolicyConfig
from protocol.ids import CLIENT_ID_PATTERN, Identifier
from protocol.pushable import MAX_OFFLINE_AGE_S

__all__ = [  # AppliedConfig and its file functions live with the box's other files
    "AccessSettings",
    "AppliedConfig",
    "ConfigError",
    "DoorSettings",
    "EdgeSettings",
    "ProvisionSettings",
    "RealHardware",
    "SettingsLayers",
    "SimHardware",
    "UnclaimedBox",
    "identity_layer",
    "load_layers",
    "load_settings",
    "read_applied",
    "write_applied",
]

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR: Final = Path(".yizhan/edge")
_ENV_PREFIX: Final = "YZ_EDGE_"
_NOT_CLAIMED: Final = (
    "this box is not claimed yet and has no [provision] section: add [provision] with the "
    "broker address and the provisioning password, see deploy/examples/box.toml (or set "
    "venue and device in the file to run it without claiming)"
)


class ConfigError(EdgeError, ValueError):
    """A configuration that cannot be used; the message lists every problem."""


class SimHardware(BaseModel):
    """firmware_sim plays the hardware behind the real drivers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["sim"] = "sim"
    profile: Literal["outdoor-station", "worker-home", "library"] = "outdoor-station"
    seed: int = 0
    # Simulated seconds per real second, so a demo minute shows an hour of traffic.
    speed: float = Field(default=1.0, gt=0, le=10_000)
    # A door box's simulated visitors: their phones sign with this development key.
    issuer_key_file: Path = Path(".yizhan/dev-issuer.json")
    crowd_size: int = Field(default=50, ge=1, le=100_000)
    crowd_gap_s: float = Field(default=8.0, gt=0, le=3600)


class RealHardware(BaseModel):
    """GPIO beams, a Modbus TCP meter, 1-wire probes and an I²C IR thermometer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["real"] = "real"
    beam_pins: tuple[int, int] | None = Field(default=None, description="BCM pins: outside, inside")
    meter_host: str | None = None
    meter_port: int = Field(default=502, ge=1, le=65535)
    meter_unit: int = Field(default=1, ge=0, le=247)
    w1_root: Path = Path("/sys/bus/w1/devices")
    thermometers: tuple[str, ...] = ()
    i2c_bus: int | None = Field(default=None, ge=0)
    # A battery real-time clock (a DS3231 on I²C, `install.sh --rtc ds3231`, or the Pi 5's
    # own with its battery) sets the time at boot: a door trusts it without a time server.
    rtc: bool = False


class AccessSettings(BaseModel):
    """How codes are checked and where the caches they are checked against come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    skew_s: float = Field(default=30.0, ge=0, le=600)
    max_offline_age_s: float = Field(
        default=7 * 86_400, gt=0, le=MAX_OFFLINE_AGE_S, description="fail secure past this"
    )
    sync_url: str | None = Field(default=None, description="cloud base URL, e.g. https://cloud/")
    sync_token: SecretStr | None = None
    sync_interval_s: float = Field(default=300.0, ge=5, le=86_400)
    # With the clock unsynchronised the door knows a lower bound of the time, lagging by the
    # length of the outage: a phone's proof may be this far ahead of it (edge/clock.py).
    unsynced_proof_window_s: float = Field(default=86_400.0, ge=0, le=7 * 86_400)


class DoorSettings(BaseModel):
    """One door: its policy, its wiring, its camera, its caches."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    policy: DoorPolicyConfig
    pins: DoorPins
    scanner: ScannerSettings = Field(default_factory=ScannerSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    pulse_s: float = Field(default=5.0, gt=0, le=60)
    held_open_s: float = Field(default=60.0, gt=0, le=3600)
    # The door's face and voice; absent: LEDs and buzzer only, as before.
    screen: ScreenSettings | None = None
    voice: VoiceSettings | None = None

    @model_validator(mode="after")
    def _screen_pins_are_free(self) -> DoorSettings:
        if self.screen is None or not self.screen.enabled or self.screen.driver == "emulator":
            return self
        door = {pin: role for role, pin in self.pins.roles().items()}
        for role, pin in self.screen.gpios().items():
            if pin in door:
                raise ValueError(
                    f"{role} is GPIO{pin}, which the door's {door[pin]} already uses: "
                    "wire the screen to a free GPIO and set it in [door.screen]"
                )
        return self


class UpdateSettings(BaseModel):
    """Software updates (edge/update/): where the release layout is, and the API to fetch from."""

    model_config = ConfigDict(extra="forbid")

    root: Path | None = Field(
        default=None,
        description="the A/B install root (/opt/yizhan); none: the release this runs from",
    )
    # Set by the claim for every role: the cloud API and the box's own token.
    api_url: str | None = Field(default=None, description="cloud base URL, e.g. https://cloud/")
    api_token: SecretStr | None = None


class ProvisionSettings(BaseModel):
    """``[provision]``: where an unclaimed box says hello, with the shared provisioning
    account (the broker lets it do nothing else)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mqtt_host: str = Field(min_length=1)
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    username: str = Field(default="yz-provision", min_length=1)
    password: SecretStr
    tls: bool = False
    ca_file: Path | None = Field(default=None, description="trust this CA; default: the system's")
    hello_interval_s: float = Field(default=5.0, ge=1, le=300)


class EdgeSettings(BaseModel):
    # The YZ_EDGE_* variables are read by environment_layer(), below the file: a box does not
    # load pydantic-settings, whose import brings asyncio and an argparse CLI (~10 MB).
    model_config = ConfigDict(extra="forbid")

    venue: Identifier
    device: Identifier
    data_dir: Path = DEFAULT_DATA_DIR
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    # The MQTT client id; None: "yz-{device}". A claim sets the one the broker binds the
    # device's account to (nobody else can connect as this box, nor this box as another).
    mqtt_client_id: str | None = Field(default=None, pattern=CLIENT_ID_PATTERN)
    mqtt_tls: bool = False
    mqtt_ca_file: Path | None = None
    # The CA of the cloud API's HTTPS certificate when it is the union's own (door sync and
    # kiosk redemptions); the public CAs are trusted either way.
    api_ca_file: Path | None = None
    heartbeat_interval_s: float = Field(default=60.0, ge=5, le=3600)
    provision: ProvisionSettings | None = None
    sample_interval_s: float = Field(default=60.0, ge=0.05, le=3600)
    outbox_max_rows: int = Field(default=500_000, ge=100)
    batch_size: int = Field(default=200, ge=1, le=500)
    resend_after_s: float = Field(default=30.0, ge=1, le=3600)
    # On a clean stop, wait this long for the cloud to confirm what is queued.
    drain_on_stop_s: float = Field(default=5.0, ge=0, le=300)
    hardware: SimHardware | RealHardware = Field(default_factory=SimHardware, discriminator="kind")
    role: Literal["sensor-hub", "door", "kiosk"] = "sensor-hub"
    door: DoorSettings | None = None
    kiosk: KioskSettings | None = None
    update: UpdateSettings = Field(default_factory=UpdateSettings)

    @field_validator("api_ca_file")
    @classmethod
    def _usable_api_ca(cls, value: Path | None) -> Path | None:
        cloud_tls(value)  # refuse at start what would fail every sync and redemption
        return value

    @model_validator(mode="after")
    def _role_needs_its_section(self) -> EdgeSettings:
        if self.role == "kiosk" and self.kiosk is None:
            raise ValueError(
                "role is 'kiosk' but there is no [kiosk] section; add [kiosk] and [kiosk.pins]"
            )
        if self.role == "door" and self.door is None:
            raise ValueError(
                "role is 'door' but there is no [door] section; add [door.policy] and [door.pins]"
            )
        return self

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / f"{self.device}-outbox.db"


@dataclass(frozen=True, slots=True)
class UnclaimedBox:
    """What a box that is not claimed yet needs: where its files are, where to say hello."""

    data_dir: Path
    provision: ProvisionSettings


@dataclass(frozen=True)
class SettingsLayers:
    """A box's settings before they are merged: each layer overrides the one before it."""

    file: dict[str, Any]
    identity: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    source: str = "the edge settings"
    data_dir: Path = DEFAULT_DATA_DIR
    # Set by load_layers when nothing says who the box is: it has to be claimed first.
    unclaimed: UnclaimedBox | None = None

    def build(self, pushed: dict[str, Any] | None = None) -> EdgeSettings:
        """File < identity < ``pushed`` (the cloud's config) < flags, validated once."""
        if pushed:
            problems = config_problems(pushed)
            if problems:
                raise ConfigError(report("the config the cloud pushed", problems))
        named = [
            ("", self.file),
            ("from the claim", self.identity),
            ("from the cloud config", pushed or {}),
            ("from the command line", self.overrides),
        ]
        return _validate(named, self.source)


def load_settings(config: Path | None = None, **overrides: Any) -> EdgeSettings:
    """Settings from YZ_EDGE_* variables, overridden by the TOML file, overridden by flags.

    The file alone; :func:`load_layers` adds a box's claim and its pushed config.
    """
    file, source = _read_file(config)
    return SettingsLayers(file, {}, _given(overrides), source=source).build()


def load_layers(config: Path | None, **overrides: Any) -> SettingsLayers:
    """A box's layers: its file, its identity if it was claimed, its flags.

    A box that is not claimed (no identity, no venue and device) is checked here, as far
    as it can be before the claim says what it is; :attr:`SettingsLayers.unclaimed` is set.
    """
    file, source = _read_file(config)
    given = _given(overrides)
    who = _who(file, given, source)
    try:
        identity = Identity.load(who.data_dir)
    except ProvisionError as exc:
        raise ConfigError(str(exc)) from None
    if identity is not None:
        layer = identity_layer(identity, via=_provision(who.provision))
        return SettingsLayers(file, layer, given, source=source, data_dir=who.data_dir)
    if who.venue is not None and who.device is not None:
        return SettingsLayers(file, {}, given, source=source, data_dir=who.data_dir)
    box = _check_unclaimed(file, given, who, source)
    return SettingsLayers(file, {}, given, source=source, data_dir=box.data_dir, unclaimed=box)


def identity_layer(identity: Identity, *, via: ProvisionSettings | None = None) -> dict[str, Any]:
    """The settings a claim decides: who the box is, its credentials, broker and cloud API.

    ``via``: the endpoint the box was claimed through, kept for what the bundle leaves out.
    """
    record = identity.record
    layer: dict[str, Any] = {
        "venue": record.venue,
        "device": record.device,
        "role": record.role,
        "mqtt_username": record.mqtt_username,
        "mqtt_password": record.mqtt_password,
        **({"mqtt_client_id": record.mqtt_client_id} if record.mqtt_client_id else {}),
        **_broker_layer(identity, via),
    }
    api = {"url": record.api_url, "token": record.api_token}
    api = {key: value for key, value in api.items() if value is not None}
    if api:  # every role fetches its software updates with its own token
        layer["update"] = {f"api_{key}": value for key, value in api.items()}
    if api and record.role == "door":
        layer["door"] = {"access": {f"sync_{key}": value for key, value in api.items()}}
    elif api and record.role == "kiosk":
        layer["kiosk"] = {f"cloud_{key}": value for key, value in api.items()}
    return layer


def _broker_layer(identity: Identity, via: ProvisionSettings | None) -> dict[str, Any]:
    """Where the claimed box connects: what the bundle named, else what it provisioned with.

    The address (host with its port) and the TLS setting are kept or replaced each on their
    own. The provisioning CA goes with whichever is kept, as it is that endpoint's; a CA in
    the bundle replaces it.
    """
    record = identity.record
    layer: dict[str, Any] = {}
    same_host, same_tls = record.mqtt_host is None, record.mqtt_tls is None
    if via is not None:
        if same_host:
            layer |= {"mqtt_host": via.mqtt_host, "mqtt_port": via.mqtt_port}
        if same_tls:
            layer["mqtt_tls"] = via.tls
        if (same_host or same_tls) and via.ca_file is not None:
            layer["mqtt_ca_file"] = via.ca_file
    named = {
        "mqtt_host": record.mqtt_host,
        "mqtt_port": record.mqtt_port,
        "mqtt_tls": record.mqtt_tls,
        "mqtt_ca_file": identity.ca_file,
    }
    return layer | {key: value for key, value in named.items() if value is not None}


def _given(overrides: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in overrides.items() if value is not None}


def _read_file(config: Path | None) -> tuple[dict[str, Any], str]:
    if config is None:
        return {}, "the edge settings"
    try:
        return tomllib.loads(config.read_text(encoding="utf-8")), str(config)
    except OSError as exc:
        raise ConfigError(f"cannot read {config}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config} is not valid TOML: {exc}") from None


class _Who(BaseModel):
    """Just enough to find the box's files and tell whether it is claimed (env included)."""

    model_config = ConfigDict(extra="ignore")
    venue: str | None = None
    device: str | None = None
    data_dir: Path = DEFAULT_DATA_DIR
    provision: dict[str, Any] | None = None


def _who(file: dict[str, Any], given: dict[str, Any], source: str) -> _Who:
    merged = _deep_merge(_deep_merge(environment_layer(), file), given)
    try:
        return _Who(**{key: merged[key] for key in _Who.model_fields if key in merged})
    except ValidationError:
        # One of these has the wrong type: the full check names it with everything else.
        _validate([("", file), ("from the command line", given)], source)
        raise


def _provision(section: dict[str, Any] | None) -> ProvisionSettings | None:
    try:
        return None if section is None else ProvisionSettings.model_validate(section)
    except ValidationError:
        return None  # the full check reports it


def _check_unclaimed(
    file: dict[str, Any], given: dict[str, Any], who: _Who, source: str
) -> UnclaimedBox:
    """Check everything the file can say before the claim says who the box is."""
    # Stand-ins for the ids the claim will bring, so the rest is checked now, not later.
    stand_in = {"venue": "unclaimed", "device": "unclaimed"}
    settings, problems = _problems([("", stand_in), ("", file), ("from the command line", given)])
    if who.provision is None:
        problems.insert(0, _NOT_CLAIMED)
    if settings is None or settings.provision is None or problems:
        raise ConfigError(report(source, problems))
    return UnclaimedBox(settings.data_dir, settings.provision)


def _validate(named: Layers, source: str) -> EdgeSettings:
    settings, problems = _problems(named)
    if settings is None:
        raise ConfigError(report(source, problems))
    return settings


def environment_layer(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``YZ_EDGE_*`` variables as a layer: ``YZ_EDGE_DOOR__POLICY__CAPACITY=12`` is
    ``{"door": {"policy": {"capacity": "12"}}}``. Names are matched case-blind and only for
    settings that exist; a value that is a JSON object or list (``YZ_EDGE_DOOR='{...}'``) is
    decoded, anything else stays text for the models to read, as from a TOML string."""
    layer: dict[str, Any] = {}
    for name, value in (os.environ if environ is None else environ).items():
        if not name.upper().startswith(_ENV_PREFIX):
            continue
        path = name[len(_ENV_PREFIX) :].lower().split("__")
        if not all(path) or path[0] not in EdgeSettings.model_fields:
            continue
        nested: Any = _env_value(value)
        for key in reversed(path):
            nested = {key: nested}
        layer = _deep_merge(layer, nested)
    return layer


def _env_value(value: str) -> Any:
    if value.lstrip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except ValueError:
            return value  # the model says what is wrong with it
    return value


def _problems(named: Layers) -> tuple[EdgeSettings | None, list[str]]:
    """The merged layers as settings, or every problem with where it is and who set it."""
    named = [("from the environment", environment_layer()), *named]
    merged: dict[str, Any] = {}
    for _, layer in named:
        merged = _deep_merge(merged, layer)
    try:
        return EdgeSettings(**merged), []
    except ValidationError as exc:
        return None, [describe(error, named, known=_KNOWN_KEYS) for error in exc.errors()]


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``; tables merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = _deep_merge(below, value)
        else:
            merged[key] = value
    return merged


# Every key a settings table may hold: a misspelt key is matched against these.
_KNOWN_KEYS: Final = frozenset(field.name for field in dataclasses.fields(DoorPins)).union(
    *(
        model.model_fields
        for model in (
            EdgeSettings,
            ProvisionSettings,
            SimHardware,
            RealHardware,
            DoorSettings,
            AccessSettings,
            DoorPolicyConfig,
            ScannerSettings,
            KioskSettings,
        )
    )
)
