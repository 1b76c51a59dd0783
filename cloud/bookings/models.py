"""Tables of rooms and activities. A booking itself is ``cloud.access.models.Booking``: doors
sync it, and a booking-gated door admits its member in the slot (± the door's grace)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index
from sqlmodel import Field, SQLModel

import cloud.models  # noqa: F401 - registers the tables the foreign keys name
from cloud.core.time import utc_now


class Room(SQLModel, table=True):
    """A bookable room of a venue, behind a booking-gated door.

    ``capacity`` bookings may share one slot (1 for a meeting room; a court may take more);
    slots are ``slot_minutes`` long between ``opens`` and ``closes`` in the venue's time
    zone, bookable up to ``days_ahead`` days ahead.
    """

    __tablename__ = "room"

    id: str = Field(primary_key=True, max_length=32)
    venue_id: str = Field(foreign_key="venue.id", index=True, max_length=32)
    door: str = Field(max_length=32)
    name_zh: str = Field(max_length=40)
    name_en: str = Field(max_length=60)
    kind: str = Field(default="other", max_length=16)
    capacity: int = Field(default=1)
    slot_minutes: int = Field(default=60)
    opens: str = Field(default="08:00", max_length=5)
    closes: str = Field(default="22:00", max_length=5)
    days_ahead: int = Field(default=14)
    active: bool = True


class Activity(SQLModel, table=True):
    """Something the union runs at a venue: a class, a health check, a film night.

    Members sign up; a signed-up member's accepted scan at the venue's door during the
    activity (from ``ATTEND_EARLY`` before its start) records attendance and pays
    ``points`` once (cloud.points.earning.record_attendance).
    """

    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_venue_starts", "venue_id", "starts_at"),)

    id: str = Field(primary_key=True, max_length=32)
    venue_id: str = Field(foreign_key="venue.id", max_length=32)
    title: str = Field(max_length=80)
    starts_at: datetime = Field(sa_type=DateTime(timezone=True))
    ends_at: datetime = Field(sa_type=DateTime(timezone=True))
    capacity: int
    points: int = 0
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    cancelled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ActivitySignup(SQLModel, table=True):
    """A member signed up for an activity; a cancelled sign-up keeps its row."""

    __tablename__ = "activity_signup"

    activity_id: str = Field(foreign_key="activity.id", primary_key=True, max_length=32)
    member_id: str = Field(primary_key=True, max_length=24, index=True)
    signed_up_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    signed_up_by: str = Field(max_length=80)
    cancelled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
