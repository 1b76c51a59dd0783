"""Edge agent settings: a TOML file, YZ_EDGE_* variables and flags, validated in one place."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    @property
    def outbox_path(self) -> Path:
        return self.data_dir / f"{self.device}-outbox.db"


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"{source} is not a valid edge configuration:"]
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        lines.append(f"  - {where}: {error['msg']}")
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
