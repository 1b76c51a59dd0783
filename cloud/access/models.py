"""Tables behind door sync: members and their change log, issuer public keys, bookings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index
from sqlmodel import Field, SQLModel

import cloud.models  # noqa: F401 - registers the tables the foreign keys name
from cloud.core.time import utc_now


class Stream(StrEnum):
    """The versioned streams a door pulls; each has its own counter row in ``sync_stream``."""

    MEMBERS = "members"
    KEYS = "keys"
    BOOKINGS = "bookings"


class SyncStream(SQLModel, table=True):
    """The version counter of one stream.

    Every write takes the next version with ``UPDATE … SET version = version + 1``, which
    holds the row lock until commit: writers of one stream commit in version order, so a
    door that has read up to version N never later misses a change numbered below N.
    ``floor`` is the oldest ``from_version`` a delta can still be served from (the change
    log below it was compacted).
    """

    __tablename__ = "sync_stream"

    name: str = Field(primary_key=True, max_length=16)
    version: int = Field(default=0, sa_type=BigInteger)
    floor: int = Field(default=0, sa_type=BigInteger)


class Member(SQLModel, table=True):
    """A union member: their door status and the roster's few facts about them.

    The union's platform (or an import) is the source. ``status`` is what doors are told
    (active or revoked); ``standing`` is the roster's word (active, suspended, revoked), of
    which both suspended and revoked reach the door as revoked. The person is kept to what
    finding them needs (PIPL): a display name and the last four digits of a phone number.
    """

    member_id: str = Field(primary_key=True, max_length=24)
    status: str = Field(max_length=8)
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Phone certificates (mode 2) issued before this instant are refused (a lost phone).
    phone_certs_after: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    valid_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    standing: str = Field(default="active", max_length=10)
    display_name: str | None = Field(default=None, max_length=40)
    phone_tail: str | None = Field(default=None, max_length=4, index=True)
    # Keyed hash of the full number (cloud.worker.phones): a walk-in who signs in with it is
    # this member. Never the number itself.
    phone_hash: str | None = Field(default=None, max_length=64, index=True)
    changed_by: str | None = Field(default=None, max_length=80)
    updated_version: int = Field(sa_type=BigInteger, index=True)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class MemberChange(SQLModel, table=True):
    """Append-only log: the member's whole state as of ``version`` (not a diff).

    Whole states make replay idempotent: a door may apply the same change twice, or a
    change older than what a snapshot page gave it, and still end where the cloud is.
    """

    __tablename__ = "member_change"

    version: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    member_id: str = Field(max_length=24, index=True)
    status: str = Field(max_length=8)
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    phone_certs_after: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    valid_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class IssuerPublicKey(SQLModel, table=True):
    """An issuer's Ed25519 public key. Private keys never live in this database."""

    __tablename__ = "issuer_public_key"

    kid: str = Field(primary_key=True, max_length=8)
    # Standard base64 of the 32 raw key bytes (44 characters).
    public_key: str = Field(max_length=64)
    active: bool = True
    not_before: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    not_after: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_version: int = Field(sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class Booking(SQLModel, table=True):
    """A member's booking of a booking-gated room (door) of a venue.

    Rows are never deleted by the sync: a cancellation sets ``cancelled`` and takes a new
    version, so a door pulling "changes after N" learns about it.
    """

    __table_args__ = (Index("ix_booking_venue_version", "venue_id", "version"),)

    id: str = Field(primary_key=True, max_length=40)
    venue_id: str = Field(foreign_key="venue.id", max_length=32)
    door: str = Field(max_length=32)
    member_id: str = Field(max_length=24)
    starts_at: datetime = Field(sa_type=DateTime(timezone=True))
    ends_at: datetime = Field(sa_type=DateTime(timezone=True))
    cancelled: bool = False
    version: int = Field(sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    # The room booked (cloud.bookings); None for a booking the union's system sent by door.
    room_id: str | None = Field(default=None, max_length=32, index=True)
    booked_by: str | None = Field(default=None, max_length=80)
