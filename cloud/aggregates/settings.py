"""Rollup, retention and scheduled-job settings (filled in by the aggregates work)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class JobSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
