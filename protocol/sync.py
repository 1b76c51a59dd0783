"""Wire models of door sync over HTTPS that protocol/access.py does not hold: snapshot pages
and booking sets.

A member snapshot of a million rows is fetched as pages of at most ``MAX_SNAPSHOT_PAGE``
members, walked with a cursor (``after`` = the last member id of the previous page) rather
than an offset: an offset is O(n) per page on the database and shifts when members are added
mid-walk. Each page carries the stream ``version`` read *before* its rows, so every row of
the page is at least that new. A door that keeps the first page's version as its base and
then applies the deltas from that base ends exactly where the cloud is: member changes are
whole states, so replaying one a page already showed is harmless.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from protocol.access import ACCESS_SCHEMA_VERSION, MemberEntry, MemberId, Version
from protocol.ids import Identifier
from protocol.payloads import Timestamp

# 10 000 members are ~0.6 MB of JSON (measured in tests/cloud/access/test_sync_api.py): one page
# is a few seconds on a slow uplink and a bounded parse on a Pi.
MAX_SNAPSHOT_PAGE: Final = 10_000
MAX_BOOKING_CHANGES: Final = 10_000
# Booking ids come from the union's booking system; wide enough for a UUID or "2025-000123".
BookingId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,40}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberSnapshotPage(_Model):
    """One page of the member list, ordered by member id."""

    v: Literal[1] = ACCESS_SCHEMA_VERSION
    # The stream version read before this page's rows: each row is at least this new.
    version: Version
    generated_at: Timestamp
    members: tuple[MemberEntry, ...] = Field(max_length=MAX_SNAPSHOT_PAGE)
    # Pass as ``after`` for the next page; None on the last page.
    next_after: MemberId | None = None


class BookingChange(_Model):
    """A booking's whole state as of ``version``; a cancelled one is withdrawn."""

    # Field names follow edge/access/bookings.py's Booking, so the door maps them 1:1.
    booking_id: BookingId
    door_id: Identifier
    member_id: MemberId
    start: Timestamp
    end: Timestamp
    cancelled: bool = False
    version: Version

    @model_validator(mode="after")
    def _ordered(self) -> BookingChange:
        if self.end <= self.start:
            raise ValueError(
                f"booking {self.booking_id!r} ends at {self.end.isoformat()}, not after it starts"
            )
        return self


class BookingSet(_Model):
    """The bookings of one venue that changed after ``from_version``, up to ``to_version``.

    ``full`` (only when ``from_version`` is 0) means: this is everything current, drop what
    you hold for this venue first; it then lists only bookings neither cancelled nor over.
    Otherwise merge by ``booking_id``. Fewer than the requested ``limit`` bookings means the door is
    up to date as of ``to_version``; a full page means ask again from ``to_version``.
    """

    v: Literal[1] = ACCESS_SCHEMA_VERSION
    venue: Identifier
    from_version: Version
    to_version: Version
    generated_at: Timestamp
    full: bool = False
    bookings: tuple[BookingChange, ...] = Field(default=(), max_length=MAX_BOOKING_CHANGES)

    @model_validator(mode="after")
    def _forward(self) -> BookingSet:
        if self.to_version < self.from_version:
            raise ValueError(
                f"to_version {self.to_version} is before from_version {self.from_version}"
            )
        if self.full and self.from_version != 0:
            raise ValueError("only a set from version 0 can be full")
        return self
