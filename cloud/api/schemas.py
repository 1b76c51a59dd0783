"""Response bodies of the read API that are not table models (those live in cloud.models)."""

from __future__ import annotations

from sqlmodel import SQLModel

from cloud.core.time import UtcDatetime
from cloud.models import VenuePublic


class HealthPublic(SQLModel):
    status: str
    database: str


class VenuesPublic(SQLModel):
    data: list[VenuePublic]
    # All venues, not only this page: a UI sizes its pager with it.
    count: int


class ReadingPublic(SQLModel):
    device_id: str
    seq: int
    metric: str
    sensor: str | None
    ts: UtcDatetime
    value: float


class TelemetryPublic(SQLModel):
    venue_id: str
    timezone: str
    metric: str
    unit: str
    since: UtcDatetime
    until: UtcDatetime
    data: list[ReadingPublic]
    count: int
    # True when more readings match than `limit`: ask again with `since` = the last ts
    # and skip the (device_id, seq) pairs already received.
    truncated: bool
