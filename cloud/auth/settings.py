"""Authentication settings (filled in by the auth work)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AuthSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
