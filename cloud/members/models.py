"""The roster's own tables: the groups a member may be in, and every change with who made it.

A member's row itself is ``cloud.access.models.Member``: one row per member, read by door
sync and written by the roster (``cloud.members.roster``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index
from sqlmodel import Field, SQLModel

from cloud.core.time import utc_now


class MemberGroup(SQLModel, table=True):
    """A group a member can be in (rider, courier, sanitation…), with its names for people.

    A door policy may admit only some groups; the roster refuses a group it does not know,
    so a typo in an import does not silently lock members out.
    """

    __tablename__ = "member_group"

    name: str = Field(primary_key=True, max_length=12)
    zh: str = Field(max_length=20)
    en: str = Field(max_length=40)


class MemberAudit(SQLModel, table=True):
    """One change to one member: what, the standing after it, by whom, when, and why."""

    __tablename__ = "member_audit"
    __table_args__ = (Index("ix_member_audit_member_at", "member_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: str = Field(max_length=24)
    action: str = Field(max_length=12)  # created | updated | suspended | revoked | reinstated
    standing: str = Field(max_length=10)
    by: str = Field(max_length=80)
    note: str | None = Field(default=None, max_length=200)
    at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class MemberPhone(SQLModel, table=True):
    """A phone's Ed25519 public key, certified for a member: the offline phone (mode 2).

    A lost phone is revoked here; the doors learn it as the member's ``phone_certs_after``
    (every certificate from before is refused), so the member's other phones renew theirs.
    """

    __tablename__ = "member_phone"
    __table_args__ = (Index("ix_member_phone_member", "member_id"),)

    id: str = Field(primary_key=True, max_length=16)
    member_id: str = Field(max_length=24)
    public_key: str = Field(max_length=64)  # standard base64 of the 32 raw bytes
    label: str | None = Field(default=None, max_length=40)
    registered_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    certified_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_by: str | None = Field(default=None, max_length=80)
