"""Alert and webhook settings (filled in by the alerts work)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AlertSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
