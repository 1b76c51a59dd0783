"""Edge agent settings: a TOML file, YZ_EDGE_* variables and flags, validated in one place."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge.door.hardware import DoorPins
from edge.kiosk.settings import KioskSettings
from edge.scan.settings import ScannerSettings
from protocol.door_policy import DoorPolicyConfig, describe_errors
from protocol.ids import Identifier


class ConfigError(ValueError):
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


class AccessSettings(BaseModel):
    """How codes are checked and where the caches they are checked against come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    skew_s: float = Field(default=30.0, ge=0, le=600)
    max_offline_age_s: float = Field(default=7 * 86_400, gt=0, description="fail secure past this")
    sync_url: str | None = Field(default=None, description="cloud base URL, e.g. https://cloud/")
    sync_token: SecretStr | None = None
    sync_interval_s: float = Field(default=300.0, ge=5, le=86_400)


class DoorSettings(BaseModel):
    """One door: its policy, its wiring, its camera, its caches."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    policy: DoorPolicyConfig
    pins: DoorPins
    scanner: ScannerSettings = Field(default_factory=ScannerSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)
    pulse_s: float = Field(default=5.0, gt=0, le=60)
    held_open_s: float = Field(default=60.0, gt=0, le=3600)


class EdgeSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="YZ_EDGE_", env_nested_delimiter="__", extra="forbid"
    )

    venue: Identifier
    device: Identifier
    data_dir: Path = Path(".yizhan/edge")
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
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


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"{source} is not a valid edge configuration:"]
    lines += [f"  - {line}" for line in describe_errors(exc)]
    lines.append("Fix these and start again; see `yizhan edge run --help` for every setting.")
    return "\n".join(lines)


def load_settings(config: Path | None = None, **overrides: Any) -> EdgeSettings:
    """Settings from YZ_EDGE_* variables, overridden by the TOML file, overridden by flags."""
    values: dict[str, Any] = {}
    source = "the edge settings"
    if config is not None:
        source = str(config)
        try:
            values = tomllib.loads(config.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {config}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config} is not valid TOML: {exc}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return EdgeSettings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None
