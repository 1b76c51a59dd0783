"""UTC time for the cloud: the clock type, now, and the one way to read a stored time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

# Injected wherever code needs "now", so tests control time instead of sleeping.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


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
