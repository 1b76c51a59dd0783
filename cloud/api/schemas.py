"""Response bodies of the read API that are not table models (those live in cloud.models)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer
from sqlmodel import SQLModel

from cloud.models import VenuePublic


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive value is UTC already (SQLite keeps no offset)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# Always sent as an ISO 8601 string with an explicit +00:00: a UI converts it to the
# venue's timezone (VenuePublic.timezone) without guessing.
UtcDatetime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(lambda value: value.isoformat(), return_type=str, when_used="json"),
]


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
