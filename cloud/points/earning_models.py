"""Tables of earning: the district's earning rules, activity attendance and the job cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from pydantic import field_validator
from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

import cloud.models  # noqa: F401 - registers the tables the foreign keys name
from cloud.core.time import UtcDatetime, utc_now
from protocol.ids import ID_PATTERN
from protocol.membercode import MEMBER_ID_RE

# One district, one rule set: the row with this id (absent: the defaults below apply).
RULES_ID: Final = 1
# Far above any real award; a typo of 100000 points for a check-in is refused.
MAX_AWARD: Final = 10_000
MAX_EXPIRY_DAYS: Final = 3650
MEMBER_ID_PATTERN: Final = MEMBER_ID_RE.pattern


class EarningRulesBase(SQLModel):
    # 0 turns the award off (events are still read, so turning it on pays no back pay).
    checkin_points: int = Field(default=10, ge=0, le=MAX_AWARD)
    activity_points: int = Field(default=50, ge=0, le=MAX_AWARD)
    # None: points never expire. Otherwise see cloud.points.earning.expire_points.
    expiry_days: int | None = Field(default=None, ge=1, le=MAX_EXPIRY_DAYS)


class EarningRules(EarningRulesBase, table=True):
    __tablename__ = "earning_rules"

    id: int = Field(default=RULES_ID, primary_key=True, sa_column_kwargs={"autoincrement": False})
    updated_by: str = Field(default="system", max_length=120)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class EarningRulesUpdate(EarningRulesBase):
    """The rules as they should be (PUT replaces them)."""


class EarningRulesPublic(EarningRulesBase):
    updated_by: str
    updated_at: UtcDatetime


class ActivityAttendance(SQLModel, table=True):
    """A member attended an activity; the primary key makes recording it twice harmless."""

    __tablename__ = "activity_attendance"

    activity_id: str = Field(primary_key=True, max_length=32)
    member_id: str = Field(primary_key=True, max_length=24)
    venue_id: str = Field(foreign_key="venue.id", index=True, max_length=32)
    points: int
    # The ledger posting's idempotency key; None when the activity paid 0 points.
    posting_key: str | None = Field(default=None, max_length=160)
    recorded_by: str = Field(max_length=120)
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))


class AttendanceCreate(SQLModel):
    member_id: str = Field(max_length=24, schema_extra={"pattern": MEMBER_ID_PATTERN})
    venue_id: str = Field(max_length=32, description="Where the activity took place.")
    points: int | None = Field(
        default=None, ge=0, le=MAX_AWARD, description="Leave out for the rules' activity_points."
    )


class AttendancePublic(SQLModel):
    activity_id: str
    member_id: str
    venue_id: str
    points: int
    posting_key: str | None
    recorded_by: str
    recorded_at: UtcDatetime


class GrantCreate(SQLModel):
    member_id: str = Field(max_length=24, schema_extra={"pattern": MEMBER_ID_PATTERN})
    # Negative takes points back (a correction); the member's balance never goes below 0.
    points: int = Field(ge=-100_000, le=100_000)
    reason: str = Field(max_length=200, description="Why: shown on the member's statement.")
    key: str | None = Field(
        default=None,
        max_length=100,
        schema_extra={"pattern": r"^[A-Za-z0-9._:-]+$"},
        description="Your idempotency key: a retry with the same key grants nothing twice.",
    )

    @field_validator("points")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError(
                "a grant of 0 points moves nothing; give a positive or negative number"
            )
        return value

    @field_validator("reason")
    @classmethod
    def _has_reason(cls, value: str) -> str:
        stripped = value.strip()
        if len(stripped) < 2:
            raise ValueError("a manual grant needs a reason; say why the member gets the points")
        return stripped


class GrantPublic(SQLModel):
    key: str
    posting_id: int
    member_id: str
    points: int
    reason: str
    granted_by: str
    at: UtcDatetime
    balance: int


class JobCursor(SQLModel, table=True):
    """How far a scheduled job has read (by received time); moved in the job's transaction."""

    __tablename__ = "points_job_cursor"

    name: str = Field(primary_key=True, max_length=40)
    position: datetime = Field(sa_type=DateTime(timezone=True))


ACTIVITY_ID_PATTERN: Final = ID_PATTERN
