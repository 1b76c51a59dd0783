"""Broker and provisioning settings: how the cloud talks to boxes and what it tells new ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# A week from a box's first hello: long enough to ship a box and fit it, short enough that a
# label photographed in the warehouse is useless by the time the box is on a wall.
DEFAULT_CLAIM_WINDOW_S = 7 * 24 * 3600
# Long enough for a box that is online to receive the wipe and answer it; a box that is off
# loses its broker account anyway and is wiped by hand (or never reconnects).
DEFAULT_WIPE_GRACE_S = 120


class BrokerSettings(BaseModel):
    """Read as YZ_CLOUD_BROKER__SECURITY etc.; CloudSettings refuses "open" in production."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # open: an anonymous development broker, no accounts to create (OpenBrokerAdmin).
    # dynsec: Mosquitto's dynamic security plugin; every box gets its own account and ACL.
    security: Literal["open", "dynsec"] = "open"
    # The cloud's own account: it reads hellos, sends bundles, commands and configs, and
    # (with dynsec) administers the boxes' accounts.
    control_username: str = Field(default="yz-control", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    control_password: SecretStr | None = None
    # The CA that signed the broker's TLS certificate; None: plain MQTT (one machine only).
    ca_file: Path | None = None
    # What a claimed box should connect to. None: the endpoint it provisioned through.
    public_host: str | None = Field(default=None, max_length=200)
    public_port: int | None = Field(default=None, ge=1, le=65535)
    public_tls: bool | None = None
    # The HTTPS base URL boxes use for door sync and kiosk redemptions.
    api_url: str | None = Field(default=None, max_length=200)
    claim_window_s: int = Field(default=DEFAULT_CLAIM_WINDOW_S, ge=60, le=366 * 24 * 3600)
    wipe_grace_s: int = Field(default=DEFAULT_WIPE_GRACE_S, ge=0, le=7 * 24 * 3600)

    @field_validator("control_password", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def claim_window(self) -> timedelta:
        return timedelta(seconds=self.claim_window_s)

    @property
    def wipe_grace(self) -> timedelta:
        return timedelta(seconds=self.wipe_grace_s)
