"""Tables of the scheduler: the leader's lease and how far each job got."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel


class JobLeader(SQLModel, table=True):
    """The lease that makes one process the job leader on SQLite."""

    __tablename__ = "job_leader"

    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=120)
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))


class JobState(SQLModel, table=True):
    """Where a job got to: the rollup's arrival-time watermark."""

    __tablename__ = "job_state"

    name: str = Field(primary_key=True, max_length=40)
    watermark: datetime = Field(sa_type=DateTime(timezone=True))
