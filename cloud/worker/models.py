"""A worker who signed in with their phone, and the one-time codes sent to phones.

A worker's phone number is never stored: only its keyed hash (to find them when they sign
in again, and to match the union's roster) and its last four digits (so they recognise it).
Their door identity is a normal ``Member`` row (``member_id``), their sign-in a normal
member account (``auth_user`` named ``username``), so doors, bookings and points need
nothing new.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index
from sqlmodel import Field, SQLModel

from cloud.core.time import utc_now


class Worker(SQLModel, table=True):
    __tablename__ = "worker"

    id: str = Field(primary_key=True, max_length=16)
    username: str = Field(max_length=64, unique=True)  # their auth_user (role member)
    member_id: str = Field(max_length=24, index=True)  # a guest's "g-…" until the roster has them
    phone_hash: str = Field(max_length=64, unique=True)
    phone_tail: str = Field(max_length=4)
    occupation: str = Field(max_length=16)
    display_name: str | None = Field(default=None, max_length=40)
    lang: str = Field(default="zh", max_length=5)
    consent_version: str = Field(max_length=16)  # the privacy notice they agreed to
    consented_at: datetime = Field(sa_type=DateTime(timezone=True))
    joined_venue: str | None = Field(default=None, max_length=32)  # whose poster they scanned
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    last_seen_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class PhoneCode(SQLModel, table=True):
    """The one live sign-in code of a phone (a new request replaces it), kept hashed."""

    __tablename__ = "worker_phone_code"

    phone_hash: str = Field(primary_key=True, max_length=64)
    code_hash: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    attempts: int = 0


class SmsSent(SQLModel, table=True):
    """One text sent, for the per-phone and per-address limits; kept a day."""

    __tablename__ = "worker_sms_sent"
    __table_args__ = (
        Index("ix_worker_sms_phone_at", "phone_hash", "sent_at"),
        Index("ix_worker_sms_address_at", "address", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    phone_hash: str = Field(max_length=64)
    address: str = Field(max_length=64)
    sent_at: datetime = Field(sa_type=DateTime(timezone=True))
