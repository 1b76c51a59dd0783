"""Release tables: published manifests, key rotations, rollouts and each box's part in one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel

import cloud.devices.models  # noqa: F401 - registers the device table the foreign keys name
from cloud.core.time import utc_now
from protocol.release import UpdateState


def _utc() -> DateTime:
    return DateTime(timezone=True)


class ReleaseRow(SQLModel, table=True):
    """A published release: the signed manifest's bytes exactly as signed, and its summary."""

    __tablename__ = "release"

    version: str = Field(primary_key=True, max_length=40)
    serial: int = Field(sa_type=BigInteger, unique=True, index=True)
    python: str = Field(max_length=8)
    machine: str = Field(max_length=16)
    notes: str = Field(default="", max_length=200)
    created_at: datetime = Field(sa_type=_utc())  # the manifest's own
    total_bytes: int = Field(sa_type=BigInteger)
    wheel_count: int
    wheels: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    key_id: str = Field(max_length=24)
    manifest: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    published_at: datetime = Field(default_factory=utc_now, sa_type=_utc())
    published_by: str = Field(max_length=80)


class KeyRotationRow(SQLModel, table=True):
    """A statement, signed by the old release key, naming the new one; boxes fetch them all."""

    __tablename__ = "release_key_rotation"

    id: int | None = Field(default=None, primary_key=True)
    # A key hands over once: a second statement from it would fork the chain.
    old_key_id: str = Field(max_length=24, unique=True)
    new_key_id: str = Field(max_length=24)
    statement: str = Field(sa_type=Text)  # the raw JSON text as signed
    added_at: datetime = Field(default_factory=utc_now, sa_type=_utc())
    added_by: str = Field(max_length=80)


class RolloutStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # by hand: no new stage, no new command
    STOPPED = "stopped"  # by itself: failures passed the threshold
    ABORTED = "aborted"  # by hand, for good
    DONE = "done"


# A rollout that still holds its devices: another rollout may not take them.
OPEN_ROLLOUT_STATUSES: Final = (
    RolloutStatus.RUNNING.value,
    RolloutStatus.PAUSED.value,
    RolloutStatus.STOPPED.value,
)
# A box in a rollout before its stage sent it anything (not a state a box reports).
SCHEDULED: Final = "scheduled"
TERMINAL_STATES: Final = (
    UpdateState.HEALTHY.value,
    UpdateState.FAILED.value,
    UpdateState.ROLLED_BACK.value,
)
FAILURE_STATES: Final = (UpdateState.FAILED.value, UpdateState.ROLLED_BACK.value)


class Rollout(SQLModel, table=True):
    """One release going out to a set of boxes in stages."""

    id: str = Field(primary_key=True, max_length=40)
    release: str = Field(foreign_key="release.version", max_length=40, index=True)
    status: str = Field(default=RolloutStatus.RUNNING.value, max_length=16, index=True)
    # [{"devices": n, "soak_s": s}, …]: how many boxes each stage adds, as planned at creation.
    stages: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    current_stage: int = -1  # -1: none sent yet
    stage_started_at: datetime | None = Field(default=None, sa_type=_utc())
    # When every box of the current stage had reported a final state: its soak starts.
    stage_done_at: datetime | None = Field(default=None, sa_type=_utc())
    failure_threshold: float = 0.02
    force: bool = False
    target: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Failures a person accepted by resuming after a stop; only failures past them count.
    excused: int = 0
    reason: str | None = Field(default=None, max_length=300)
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(sa_type=_utc())
    updated_at: datetime = Field(sa_type=_utc())
    finished_at: datetime | None = Field(default=None, sa_type=_utc())


class RolloutDevice(SQLModel, table=True):
    """One box's part in a rollout; its state moves only by the box's own ``update.state``."""

    __tablename__ = "rollout_device"
    __table_args__ = (Index("ix_rollout_device_device", "device_id", "updated_at"),)

    rollout_id: str = Field(primary_key=True, foreign_key="rollout.id", max_length=40)
    device_id: str = Field(primary_key=True, foreign_key="device.id", max_length=32)
    venue_id: str = Field(max_length=32, index=True)
    stage: int
    state: str = Field(default=SCHEDULED, max_length=16)
    command_id: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = Field(default=None, sa_type=_utc())
    # The seq of the report that set the state: a late resend of an older one changes nothing.
    seq: int | None = Field(default=None, sa_type=BigInteger)
    detail: str | None = Field(default=None, max_length=200)
    running: str | None = Field(default=None, max_length=40)
    downloaded_bytes: int = Field(default=0, sa_type=BigInteger)
    reused_bytes: int = Field(default=0, sa_type=BigInteger)
    updated_at: datetime = Field(sa_type=_utc())
