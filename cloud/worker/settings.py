"""``CloudSettings.worker``: the walk-in guest pass and the phone sign-in's limits
(YZ_CLOUD_WORKER__*)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WorkerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The union's guest pass: how long a walk-in may come in before the roster confirms them,
    # and how many visits (accepted door decisions) it is good for in that time.
    guest_days: int = Field(default=30, ge=1, le=366)
    guest_visits: int = Field(default=20, ge=1, le=1000)
    # A sign-in code by SMS: how long it works, how many wrong tries burn it.
    code_minutes: int = Field(default=5, ge=1, le=30)
    code_attempts: int = Field(default=5, ge=1, le=10)
    # Texts per phone: one a minute, a few an hour, a handful a day (each costs the union
    # money, and a flood of texts to one number is harassment).
    phone_gap_s: int = Field(default=60, ge=10, le=3600)
    phone_per_hour: int = Field(default=5, ge=1, le=100)
    phone_per_day: int = Field(default=10, ge=1, le=1000)
    # Texts asked for from one address (an IPv6 /64 counts as one) in an hour: a station's
    # shared Wi-Fi serves a queue of first-timers, a script cycling numbers stops here.
    address_per_hour: int = Field(default=30, ge=1, le=100_000)
    # Offline door codes fetched ahead while online: consecutive one-minute codes, so a
    # phone without signal still shows a valid code for this many minutes.
    offline_minutes: int = Field(default=10, ge=0, le=60)
