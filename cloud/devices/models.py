"""Device tables: devices, boxes awaiting a claim, commands, configs, health and offline marks."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text, false
from sqlmodel import Field, SQLModel

import cloud.models  # noqa: F401 - registers the venue table the device's foreign key names
from cloud.core.time import utc_now


class DeviceStatus(StrEnum):
    CLAIMED = "claimed"  # created by a claim; its box has not come online as itself yet
    ACTIVE = "active"
    DECOMMISSIONED = "decommissioned"


class CommandStatus(StrEnum):
    PENDING = "pending"  # stored by the API, not yet on the broker
    PUBLISHED = "published"
    DONE = "done"  # the device answered ok
    FAILED = "failed"
    REFUSED = "refused"  # the device would not run it (replayed, unknown, …)
    # Never sent in time, or sent and not answered by its expiry (a late answer still moves
    # it: cloud/ingest/notes.py), or cancelled by decommissioning, or the box said so.
    EXPIRED = "expired"


# Statuses a command.result may still move a command out of (and a sent command that
# expired unanswered: cloud/ingest/notes.py).
OPEN_COMMAND_STATUSES = (CommandStatus.PENDING.value, CommandStatus.PUBLISHED.value)


def _utc() -> DateTime:
    return DateTime(timezone=True)


class Device(SQLModel, table=True):
    """A box at a venue. Claimed boxes go claimed -> active -> decommissioned
    (cloud/devices/); a box ingest meets on the anonymous development broker is active."""

    id: str = Field(primary_key=True, max_length=32)
    venue_id: str = Field(foreign_key="venue.id", index=True, max_length=32)
    online: bool = False
    software: str | None = Field(default=None, max_length=200)
    # The device's own time of its newest state message: an older retained or delayed
    # state never overwrites a newer one.
    state_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_seen_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    # sensor-hub | door | kiosk; None for a device registered before claiming existed.
    role: str | None = Field(default=None, max_length=16)
    status: str = Field(default="active", max_length=16, index=True)
    # The factory serial of the box; cleared when a decommissioned box is claimed again.
    serial: str | None = Field(default=None, max_length=10, unique=True, index=True)
    claimed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    claimed_by: str | None = Field(default=None, max_length=80)
    decommissioned_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    decommissioned_by: str | None = Field(default=None, max_length=80)
    # When the broker account of a decommissioned device was deleted (None: not yet).
    broker_removed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    credential_generation: int = 0
    # The device's own API token (door sync, kiosk redemptions); only its id is kept here.
    # Indexed: every request with a device's token looks its device up by it.
    api_token_id: str | None = Field(default=None, max_length=16, index=True)


class PendingBox(SQLModel, table=True):
    """A box that said hello on the provisioning topic: unclaimed, or claimed and waiting for
    its sealed bundle. Removed when its device is decommissioned, so the wiped box must say
    hello again before anyone can claim it."""

    __tablename__ = "pending_box"

    serial: str = Field(primary_key=True, max_length=10)
    # Of the serial's first hello, whatever its check; each check has its own (PendingBoxCheck).
    first_seen_at: datetime = Field(sa_type=_utc())
    last_seen_at: datetime = Field(sa_type=_utc())
    software: str | None = Field(default=None, max_length=200)
    hardware: str | None = Field(default=None, max_length=200)
    failed_attempts: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=_utc())
    device_id: str | None = Field(default=None, foreign_key="device.id", max_length=32)
    claimed_at: datetime | None = Field(default=None, sa_type=_utc())
    # The SealedBundle as JSON until the device comes online as itself; only the label's
    # secret opens it, so keeping it here leaks nothing.
    sealed_bundle: str | None = Field(default=None, sa_type=Text)
    delivered_at: datetime | None = Field(default=None, sa_type=_utc())


class PendingBoxCheck(SQLModel, table=True):
    """One claim check a hello for ``serial`` carried, and when it was first and last heard.

    Anyone holding the shared provisioning account can say hello for any serial with a
    made-up check, so a serial keeps every distinct check recently heard (a few: see
    cloud/devices/hello.py) and a claim succeeds when the label's check is among them. The
    claim window runs from the first hello with *that* check, so a forged one neither
    refuses nor prolongs the real label. Once claimed, only the matching check is kept.
    """

    __tablename__ = "pending_box_check"

    serial: str = Field(
        primary_key=True, foreign_key="pending_box.serial", ondelete="CASCADE", max_length=10
    )
    # protocol.provisioning.claim_check of a label's secret, as the hello said it.
    check: str = Field(primary_key=True, max_length=64)
    first_seen_at: datetime = Field(sa_type=_utc())
    last_seen_at: datetime = Field(sa_type=_utc())
    # The hello said the box takes the client id its bundle names (Hello.accepts_client_id).
    accepts_client_id: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class DeviceDesiredConfig(SQLModel, table=True):
    """One version of the settings pushed to a device; the newest is retained on its topic."""

    __tablename__ = "device_desired_config"

    device_id: str = Field(primary_key=True, foreign_key="device.id", max_length=32)
    version: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    issued_at: datetime = Field(sa_type=_utc())
    issued_by: str = Field(max_length=80)
    published_at: datetime | None = Field(default=None, sa_type=_utc())


class DeviceCommand(SQLModel, table=True):
    """A command for one device. ``args`` never holds a secret: a rotation's new password
    lives only in the memory of the process that issued it (cloud/devices/vault.py)."""

    __tablename__ = "device_command"
    __table_args__ = (Index("ix_device_command_device_issued", "device_id", "issued_at"),)

    command_id: str = Field(primary_key=True, max_length=64)
    device_id: str = Field(foreign_key="device.id", max_length=32)
    venue_id: str = Field(max_length=32)
    name: str = Field(max_length=32)
    args: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    issued_by: str = Field(max_length=80)
    issued_at: datetime = Field(sa_type=_utc())
    expires_at: datetime = Field(sa_type=_utc())
    status: str = Field(default=CommandStatus.PENDING.value, max_length=16, index=True)
    published_at: datetime | None = Field(default=None, sa_type=_utc())
    result_at: datetime | None = Field(default=None, sa_type=_utc())
    detail: str | None = Field(default=None, max_length=300)


class DeviceHealth(SQLModel, table=True):
    """The newest heartbeat of a device (by sequence number)."""

    __tablename__ = "device_health"

    device_id: str = Field(primary_key=True, foreign_key="device.id", max_length=32)
    seq: int = Field(sa_type=BigInteger)
    ts: datetime = Field(sa_type=_utc())
    software: str | None = Field(default=None, max_length=200)
    uptime_s: int = Field(sa_type=BigInteger)
    disk_free_mb: int | None = Field(default=None, sa_type=BigInteger)
    disk_total_mb: int | None = Field(default=None, sa_type=BigInteger)
    cpu_temp_c: float | None = None
    outbox_depth: int = Field(sa_type=BigInteger)
    config_version: int = Field(default=0, sa_type=BigInteger)
    credential_generation: int = Field(default=0, sa_type=BigInteger)
    # Comma-separated issuer key ids the box holds (doors and kiosks).
    issuer_keys: str | None = Field(default=None, max_length=200)
    received_at: datetime = Field(sa_type=_utc())


class DeviceFault(SQLModel, table=True):
    """A part of a device that reported a fault (``sensor.fault``), newest report first.

    One row per (device, part): a ``sensor.recovered`` clears ``problem``. What a technician
    sees among a device's health: a fridge probe, the meter, a door's screen or speaker.
    """

    __tablename__ = "device_fault"

    device_id: str = Field(primary_key=True, foreign_key="device.id", max_length=32)
    sensor: str = Field(primary_key=True, max_length=48)
    problem: str | None = Field(default=None, max_length=200)  # None: it works again
    seq: int = Field(sa_type=BigInteger)
    ts: datetime = Field(sa_type=_utc())  # the device's time of the report
    received_at: datetime = Field(sa_type=_utc())


class DeviceConfigRejection(SQLModel, table=True):
    """The newest config version a device refused, with its reasons."""

    __tablename__ = "device_config_rejection"

    device_id: str = Field(primary_key=True, foreign_key="device.id", max_length=32)
    version: int = Field(sa_type=BigInteger)
    errors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    seq: int = Field(sa_type=BigInteger)
    ts: datetime = Field(sa_type=_utc())
    received_at: datetime = Field(sa_type=_utc())


class DeviceDiagnostics(SQLModel, table=True):
    """A diagnostics report a device published answering a diagnostics command."""

    __tablename__ = "device_diagnostics"

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(foreign_key="device.id", max_length=32, index=True)
    command_id: str = Field(max_length=64)
    ts: datetime = Field(sa_type=_utc())
    report: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field(sa_type=_utc())


class DeviceConfig(SQLModel, table=True):
    """The newest configuration version a device reported applying."""

    __tablename__ = "device_config"

    device_id: str = Field(primary_key=True, foreign_key="device.id", max_length=32)
    version: int = Field(sa_type=BigInteger)
    # The seq of the reporting event: a late resend of an older report changes nothing.
    seq: int = Field(sa_type=BigInteger)
    applied_at: datetime = Field(sa_type=DateTime(timezone=True))
    received_at: datetime = Field(sa_type=DateTime(timezone=True))


class DeviceOfflineMark(SQLModel, table=True):
    """A device the offline job marked offline, so it can be marked back when it speaks."""

    __tablename__ = "device_offline_mark"

    device_id: str = Field(primary_key=True, max_length=32)
    marked_at: datetime = Field(sa_type=DateTime(timezone=True))
