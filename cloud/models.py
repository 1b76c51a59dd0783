"""Tables of the cloud store: venues, readings, events and rejected messages."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import StrictBool, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from cloud.core.partial import NoNulls
from cloud.core.time import utc_now
from cloud.worker.profile import AMENITIES, check_hours
from protocol.ids import ID_PATTERN

# Two ranges a weekday at most: more lines than that is a mistake, not a timetable.
MAX_HOURS_LINES: Final = 14
# Software updates restart a box: by default in the small hours, when stations are emptiest.
DEFAULT_UPDATE_WINDOW: Final = ("03:00", "05:00")
_HOUR_MINUTE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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
    # ``name`` is what zh-CN pages print; ``name_en`` the English pages' (``name`` when none).
    name: str = Field(max_length=120)
    name_en: str | None = Field(default=None, max_length=120)
    kind: str = Field(default="station", max_length=40)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    # The district union the venue belongs to ("徐汇区"); the dashboard filters by it.
    district: str | None = Field(default=None, max_length=60, index=True)
    # Local hours (in ``timezone``) when boxes may restart into a new release: the venue's
    # quiet hours. The window may cross midnight (cloud/releases/windows.py).
    update_window_start: str = Field(
        default=DEFAULT_UPDATE_WINDOW[0],
        max_length=5,
        sa_column_kwargs={"server_default": DEFAULT_UPDATE_WINDOW[0]},
    )
    update_window_end: str = Field(
        default=DEFAULT_UPDATE_WINDOW[1],
        max_length=5,
        sa_column_kwargs={"server_default": DEFAULT_UPDATE_WINDOW[1]},
    )


class VenueProfile(SQLModel):
    """What a worker on the street sees of a venue: where it is, what it offers, its hours.

    ``hours`` uses the door policy's lines (``"daily 07:00-22:00"``, protocol.door_policy);
    none means open 24 hours, the outdoor station's default. ``admits_guests`` says whether a
    walk-in's guest pass is good here (the door's policy ``admit_guests`` enforces it).
    """

    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=120)
    description: str | None = Field(default=None, max_length=400)
    amenities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    hours: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    admits_guests: bool = True


class Venue(VenueBase, VenueProfile, table=True):
    id: str = Field(primary_key=True, max_length=32)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    # Printed into the venue's walk-in poster QR; raising it retires every printed poster.
    poster_edition: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


def check_line(value: str) -> str:
    """One line of text, stripped: no control characters (a line break in a venue's name
    would end an e-mail's Subject and start a header of its own)."""
    value = value.strip()
    if _CONTROL.search(value):
        raise ValueError("must not hold control characters (line breaks, tabs); write one line")
    return value


def check_text(value: str | None) -> str | None:
    """A one-line text a phone shows: stripped, empty as none, no control characters."""
    if value is None:
        return None
    return check_line(value) or None


def check_amenities(values: list[str]) -> list[str]:
    """Known amenity words, each once, in the order a worker looks for them."""

    unknown = [v for v in values if v not in AMENITIES]
    if unknown:
        named = ", ".join(repr(v[:40]) for v in unknown[:5])
        raise ValueError(f"{named}: not an amenity; use only {', '.join(AMENITIES)}")
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)}: named more than once; give each amenity once")
    return sorted(values, key=AMENITIES.index)


def check_venue_hours(lines: list[str]) -> list[str]:
    """Opening-hours lines in the door policy's words, normalized; none is open 24 hours."""

    if len(lines) > MAX_HOURS_LINES:
        raise ValueError(
            f"{len(lines)} lines of hours; write at most {MAX_HOURS_LINES}, one per group of "
            'days like "mon-fri 07:00-22:00"'
        )
    normalized = []
    for number, line in enumerate(lines, start=1):
        try:
            normalized += check_hours([line])
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
    return normalized


def check_hour_minute(value: str | None) -> str | None:
    """A local time written HH:MM (24 hours), or a ValueError saying how to write it."""
    if value is not None and not _HOUR_MINUTE.fullmatch(value):
        raise ValueError(f"{value[:20]!r} is not a time; write HH:MM in 24 hours, like 03:00")
    return value


class _ProfileRules:
    """The checks a venue's profile passes on its way in, for a new venue and a change."""

    @field_validator("update_window_start", "update_window_end", check_fields=False)
    @classmethod
    def _hour_minute(cls, value: str | None) -> str | None:
        return check_hour_minute(value)

    @field_validator("name_en", "address", "description", check_fields=False)
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return check_text(value)

    @field_validator("name", "district", check_fields=False)
    @classmethod
    def _one_line_name(cls, value: str | None) -> str | None:
        # Not emptied to none: the name is required, and the district filters as written.
        return None if value is None else check_line(value)

    @field_validator("amenities", check_fields=False)
    @classmethod
    def _known_amenities(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_amenities(value)

    @field_validator("hours", check_fields=False)
    @classmethod
    def _door_hours(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_venue_hours(value)


_PAIRED = "give latitude and longitude together (both numbers, or both null), never one alone"


class VenueCreate(_ProfileRules, VenueBase, VenueProfile):
    # The id the venue's boxes publish under: protocol.ids rules, so topics accept it.
    id: str = Field(max_length=32, schema_extra={"pattern": ID_PATTERN})
    # Strict: a quoted "no" would otherwise read as false and "yes" as true, unnoticed.
    admits_guests: StrictBool = True

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)

    @model_validator(mode="after")
    def _both_or_neither(self) -> VenueCreate:
        if (self.latitude is None) != (self.longitude is None):
            raise PydanticCustomError("coordinates_unpaired", _PAIRED)
        return self


class VenueUpdate(_ProfileRules, NoNulls, SQLModel):
    """A partial update: a field left out keeps its value; null is not a value, except for
    the English name, location, address and description, which null (or an empty text)
    clears."""

    nullable: ClassVar[frozenset[str]] = frozenset(
        {"name_en", "latitude", "longitude", "address", "description"}
    )

    name: str | None = Field(default=None, max_length=120)
    name_en: str | None = Field(default=None, max_length=120)
    kind: str | None = Field(default=None, max_length=40)
    timezone: str | None = Field(default=None, max_length=64)
    district: str | None = Field(default=None, max_length=60)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = Field(default=None, max_length=120)
    description: str | None = Field(default=None, max_length=400)
    amenities: list[str] | None = Field(
        default=None, description="The whole list (it replaces the stored one); [] clears it."
    )
    hours: list[str] | None = Field(
        default=None,
        description='Door-policy lines like "mon-fri 07:00-22:00"; [] means open 24 hours.',
    )
    admits_guests: StrictBool | None = None
    update_window_start: str | None = Field(
        default=None, description="When boxes may restart into a new release: HH:MM local."
    )
    update_window_end: str | None = Field(
        default=None, description="End of the update window, HH:MM; may be past midnight."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else check_timezone(value)

    @model_validator(mode="after")
    def _both_or_neither(self) -> VenueUpdate:
        given = {"latitude", "longitude"} & self.model_fields_set
        if given and (len(given) == 1 or (self.latitude is None) != (self.longitude is None)):
            raise PydanticCustomError("coordinates_unpaired", _PAIRED)
        return self


class VenuePublic(VenueBase, VenueProfile):
    id: str
    poster_edition: int = Field(
        description="Printed into the walk-in poster's QR; renewing the poster raises it and "
        "retires every poster printed before."
    )


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
