"""Tables of the cloud store: venues, readings, events and rejected messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator
from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from cloud.core.partial import NoNulls
from cloud.core.time import utc_now
from protocol.ids import ID_PATTERN


def check_timezone(value: str) -> str:
    """An IANA zone name the server knows, or a ValueError saying what to write."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value[:64]!r} is not a known time zone; write an IANA name like Asia/Shanghai"
        ) from None
    return value


class VenueBase(SQLModel):
    name: str = Field(max_length=120)
    kind: str = Field(default="station", max_length=40)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    # The district union the venue belongs to ("徐汇区"); the dashboard filters by it.
    district: str | None = Field(default=None, max_length=60, index=True)


class Venue(VenueBase, table=True):
    id: str = Field(primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class VenueCreate(VenueBase):
    # The id the venue's boxes publish under: protocol.ids rules, so topics accept it.
    id: str = Field(max_length=32, schema_extra={"pattern": ID_PATTERN})

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)


class VenueUpdate(NoNulls, SQLModel):
    """A partial update: a field left out keeps its value; null is not a value."""

    name: str | None = Field(default=None, max_length=120)
    kind: str | None = Field(default=None, max_length=40)
    timezone: str | None = Field(default=None, max_length=64)
    district: str | None = Field(default=None, max_length=60)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)


class VenuePublic(VenueBase):
    id: str


class Reading(SQLModel, table=True):
    """One stored sensor value; (device_id, seq) is the idempotency key."""

    __table_args__ = (Index("ix_reading_venue_metric_ts", "venue_id", "metric", "ts"),)

    device_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    venue_id: str = Field(max_length=32)
    metric: str = Field(max_length=40)
    sensor: str | None = Field(default=None, max_length=32)
    ts: datetime = Field(sa_type=DateTime(timezone=True))
    value: float
    received_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class DeviceEvent(SQLModel, table=True):
    """One stored device event; (device_id, seq) is the idempotency key."""

    __tablename__ = "device_event"
    __table_args__ = (Index("ix_device_event_venue_ts", "venue_id", "ts"),)

    device_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    venue_id: str = Field(max_length=32)
    type: str = Field(max_length=48)
    ts: datetime = Field(sa_type=DateTime(timezone=True))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class RejectedMessage(SQLModel, table=True):
    """A message or batch item ingest refused, kept with the reason so nothing is lost."""

    __tablename__ = "rejected_message"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(
        default_factory=utc_now, sa_type=DateTime(timezone=True), index=True
    )
    topic: str = Field(max_length=300)
    device_id: str | None = Field(default=None, max_length=32, index=True)
    seq: int | None = Field(default=None, sa_type=BigInteger)
    field_path: str = Field(max_length=200)
    reason: str = Field(sa_type=Text)
    size: int
    payload: str = Field(sa_type=Text)  # the first sample; repeats only add to ``count``
    # Repeats of one refusal (same sender, field and kind of reason) within one minute share
    # this row: a flood of garbage costs a counter, not a row each (cloud/ingest/rejections.py).
    count: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    last_seen_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # Sender, field, kind of reason and minute, hashed; NULL on rows from before 0007.
    dedupe_key: str | None = Field(default=None, max_length=64, unique=True, index=True)
