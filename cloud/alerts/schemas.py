"""What the API and the webhook show of alerts, rules and sensor roles."""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloud.alerts.models import AlertKind, AlertStatus, SensorRoleName
from cloud.core.time import as_utc


class _UtcModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: object) -> object:
        return as_utc(value) if isinstance(value, datetime) else value


class AlertPublic(_UtcModel):
    id: int
    venue_id: str
    device_id: str | None
    sensor: str | None
    kind: AlertKind
    severity: str
    status: AlertStatus
    dedupe_key: str
    opened_at: datetime
    last_seen_at: datetime
    occurrences: int
    threshold: float | None
    last_value: float | None
    message_zh: str
    message_en: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    auto_resolved: bool
    ack_note: str | None = None
    resolve_note: str | None = None


class AlertsPublic(BaseModel):
    data: list[AlertPublic]
    count: int  # all alerts matching the filters, not just this page


class AlertRulePublic(_UtcModel):
    id: int
    venue_id: str | None  # None: the district default
    kind: AlertKind
    threshold: float | None
    duration_s: int
    enabled: bool
    season_start_month: int | None
    season_end_month: int | None
    updated_by: str
    updated_at: datetime


class AlertRulesPublic(BaseModel):
    data: list[AlertRulePublic]
    count: int


class AlertRuleUpdate(BaseModel):
    """The rule as it should be (PUT replaces it): a threshold of None means "none" and is
    refused for the kinds that need one."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(default=None, ge=-55, le=1e6)
    duration_s: int = Field(ge=0, le=7 * 86_400)
    enabled: bool = True
    season_start_month: int | None = Field(default=None, ge=1, le=12)
    season_end_month: int | None = Field(default=None, ge=1, le=12)

    @model_validator(mode="after")
    def _season_pair(self) -> Self:
        if (self.season_start_month is None) != (self.season_end_month is None):
            raise ValueError(
                "give both season_start_month and season_end_month (e.g. 6 and 9), or neither"
            )
        return self


class SensorRolePublic(_UtcModel):
    venue_id: str
    device_id: str
    sensor: str
    role: SensorRoleName
    label: str | None
    updated_by: str
    updated_at: datetime


class SensorRolesPublic(BaseModel):
    data: list[SensorRolePublic]
    count: int


class SensorRoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: SensorRoleName
    label: str | None = Field(default=None, max_length=80)


class AlertNote(BaseModel):
    """The optional body of acknowledge and resolve: what the person found or did."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=1000)


class WebhookBody(BaseModel):
    """The JSON POSTed to the alert webhook."""

    event: str  # opened | acknowledged | resolved
    delivery_id: int  # the same on every retry: receivers drop repeats by it
    alert: AlertPublic
