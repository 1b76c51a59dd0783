"""``CloudSettings.web``: the dashboard's knobs (YZ_CLOUD_WEB__*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class WebSettings(BaseModel):
    # How often the live feed looks for changes while someone watches (seconds).
    live_interval_s: float = Field(default=1.0, gt=0, le=60)
    # An Ed25519 issuer key (cloud.access.issuer's file format) for the member page's rotating
    # code. None: members get their code from the union app, and the page says so.
    issuer_key_file: Path | None = None
    # How long a dashboard sign-in lasts: a shift at the front desk, not the API's hour.
    # The account is still checked on every request, so disabling it ends a session at once.
    session_hours: float = Field(default=12.0, gt=0, le=24 * 7)
    # Cookies marked Secure even in development (a TLS proxy in front); production always is.
    secure_cookies: bool = False
