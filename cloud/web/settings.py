"""``CloudSettings.web``: the dashboard's knobs (YZ_CLOUD_WEB__*)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class WebSettings(BaseModel):
    # How often the live feed looks for changes while someone watches (seconds).
    live_interval_s: float = Field(default=1.0, gt=0, le=60)
    # An Ed25519 issuer key (cloud.issuer's file format) for the member page's rotating
    # code. None: members get their code from the union app, and the page says so.
    issuer_key_file: Path | None = None
    # Cookies marked Secure even in development (a TLS proxy in front); production always is.
    secure_cookies: bool = False
