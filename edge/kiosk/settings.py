"""A kiosk's settings: its slots and sensor wiring, its cloud, its screen, its offline limits."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from edge.kiosk.limits import OfflineLimits
from edge.scan.settings import ScannerSettings
from protocol.pushable import MAX_OFFLINE_AGE_S

# A vending spiral turns once in ~2-4 s; eight seconds without an item through the chute
# beam means the spiral is jammed or the slot is empty.
DEFAULT_DISPENSE_TIMEOUT_S = 8.0


class KioskPins(BaseModel):
    """BCM pins: one motor relay per slot and the IR beam across the delivery chute.

    ``drop_active_high``: an open-collector beam receiver with an external pull-up reads
    high while the beam is broken (an item falling through), as the door's beam counter.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    motors: dict[str, int] = Field(min_length=1, description="slot id -> motor relay pin")
    drop_sensor: int
    motor_active_high: bool = True
    drop_active_high: bool = True

    @model_validator(mode="after")
    def _distinct(self) -> KioskPins:
        seen: dict[int, str] = {self.drop_sensor: "drop_sensor"}
        for slot, pin in self.motors.items():
            if pin in seen:
                raise ValueError(f"slot {slot!r} motor and {seen[pin]} are both set to GPIO{pin}")
            seen[pin] = f"slot {slot!r} motor"
        return self


class KioskAccess(BaseModel):
    """How member codes are checked (the door's verifier, with the kiosk's own caches)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    skew_s: float = Field(default=30.0, ge=0, le=600)
    max_offline_age_s: float = Field(
        default=7 * 86_400, gt=0, le=MAX_OFFLINE_AGE_S, description="fail secure past this"
    )
    sync_interval_s: float = Field(default=300.0, ge=5, le=86_400)


class KioskSettings(BaseModel):
    """``[kiosk]`` in the edge TOML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kiosk_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    pins: KioskPins
    dispense_timeout_s: float = Field(default=DEFAULT_DISPENSE_TIMEOUT_S, gt=0, le=60)
    cloud_url: str | None = Field(default=None, description="cloud base URL, e.g. https://cloud/")
    cloud_token: SecretStr | None = None
    cloud_timeout_s: float = Field(default=5.0, gt=0, le=60)
    screen_port: int = Field(default=8700, ge=0, le=65535, description="0: any free port")
    session_s: float = Field(default=60.0, gt=0, le=600, description="idle member session")
    timezone: str = Field(default="Asia/Shanghai", description="for the offline daily limit")
    reconcile_interval_s: float = Field(default=30.0, ge=1, le=3600)
    offline: OfflineLimits = Field(default_factory=OfflineLimits)
    access: KioskAccess = Field(default_factory=KioskAccess)
    scanner: ScannerSettings = Field(default_factory=ScannerSettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from None
        return value

    @model_validator(mode="after")
    def _token_with_url(self) -> KioskSettings:
        if self.cloud_url is not None and self.cloud_token is None:
            raise ValueError("kiosk.cloud_url is set but kiosk.cloud_token is not; add the token")
        return self
