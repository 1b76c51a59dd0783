"""What the scheduled jobs run and how often: rollups, retention, offline detection, alerts,
leader election, and where docking pushes (`CloudSettings.jobs`, `YZ_CLOUD_JOBS__…`)."""

from __future__ import annotations

from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Below this many characters an HMAC key is guessable by a patient attacker.
_MIN_SECRET_CHARS = 32
# A report answers one question a technician asked; a month covers looking back at it.
DEFAULT_DIAGNOSTICS_RETENTION_DAYS = 30


class JobSettings(BaseModel):
    """``CloudSettings.jobs``: what the scheduler runs, how often, and where docking pushes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run the scheduler in this process at all.")
    # Raw rows past this age are deleted; rollups are kept. The rollups recompute only hours
    # inside the retention window, so it must leave room for a late backlog to be rolled up.
    raw_retention_days: int = Field(default=90, ge=3, le=3650)
    # The retention job also deletes, past these ages: refused messages (a flood of them is
    # counted per minute, but old ones still only take room), resolved alerts, and webhook
    # deliveries (delivered or given up long since; an alert's history is the alert itself).
    rejection_retention_days: int = Field(default=30, ge=1, le=3650)
    resolved_alert_retention_days: int = Field(default=180, ge=1, le=3650)
    webhook_delivery_retention_days: int = Field(default=30, ge=1, le=3650)
    # Diagnostics reports (one per diagnostics command; a technician reads the newest).
    diagnostics_retention_days: int = Field(
        default=DEFAULT_DIAGNOSTICS_RETENTION_DAYS, ge=1, le=3650
    )
    rollup_interval_s: float = Field(default=60.0, gt=0, le=3600)
    # On the first run (no watermark yet) rows received this far back are rolled up.
    rollup_backfill_hours: int = Field(default=48, ge=1, le=24 * 365)
    retention_hour_utc: int = Field(default=19, ge=0, le=23)  # 03:00 in China
    offline_check_s: float = Field(default=30.0, gt=0, le=3600)
    # Devices tick every 10-60 s; three missed minutes is an outage, not jitter.
    offline_after_s: float = Field(default=180.0, gt=0)
    # Alert rules as of now. It bounds how soon a person hears of an alert (the delivery job
    # adds ~5 s): 15 s keeps a notification's p95 under 30 s (docs/notifications.md), and one
    # evaluation of 500 venues costs 0.4-2 s on a loaded 2-core machine.
    alert_interval_s: float = Field(default=15.0, gt=0, le=3600)
    # Points (redemption expiry, check-in awards, point expiry) and bookings: a minute is soon
    # enough for things counted in days.
    points_interval_s: float = Field(default=60.0, gt=0, le=3600)
    # Lease (SQLite) length and renewal: a crashed leader is replaced within lease_s.
    leader_lease_s: float = Field(default=30.0, gt=0)
    leader_renew_s: float = Field(default=10.0, gt=0)
    # Local hour at which occupancy is reset to 0 (a station is emptiest then); None: never.
    occupancy_quiet_hour: int | None = Field(default=4, ge=0, le=23)
    # A meter register that wraps to 0 at this value (e.g. 999999.99 on a 6+2 digit
    # counter); None when the meters never wrap, so every drop is a reset/replacement.
    energy_register_max_kwh: float | None = Field(default=None, gt=0)
    docking_webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    docking_secret: SecretStr | None = None
    docking_timezone: str = "Asia/Shanghai"
    docking_push_hour: int = Field(default=3, ge=0, le=23)
    docking_max_attempts: int = Field(default=5, ge=1, le=20)
    docking_backoff_s: float = Field(default=2.0, ge=0)
    docking_timeout_s: float = Field(default=10.0, gt=0)
    # After an outage the push job also sends the days it missed, this far back.
    docking_catch_up_days: int = Field(default=7, ge=1, le=60)

    @field_validator("docking_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name like Asia/Shanghai"
            ) from exc
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.leader_renew_s >= self.leader_lease_s:
            raise ValueError(
                f"leader_renew_s ({self.leader_renew_s}) must be shorter than leader_lease_s "
                f"({self.leader_lease_s}), or the lease lapses between renewals"
            )
        if self.docking_webhook_url is not None:
            secret = self.docking_secret.get_secret_value() if self.docking_secret else ""
            if len(secret) < _MIN_SECRET_CHARS:
                raise ValueError(
                    "docking_webhook_url needs docking_secret of at least "
                    f"{_MIN_SECRET_CHARS} random characters to sign the pushes; agree one "
                    "with the provincial platform"
                )
        return self
