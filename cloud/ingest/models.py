"""Tables ingest adds to the cloud store: the configuration version each device applied."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime
from sqlmodel import Field, SQLModel

# The event a device publishes once it has applied a configuration: {"version": N}.
CONFIG_APPLIED_EVENT = "config.applied"


class DeviceConfig(SQLModel, table=True):
    """The newest configuration version a device reported applying."""

    __tablename__ = "device_config"

    device_id: str = Field(primary_key=True, foreign_key="device.id", max_length=32)
    version: int = Field(sa_type=BigInteger)
    # The seq of the reporting event: a late resend of an older report changes nothing.
    seq: int = Field(sa_type=BigInteger)
    applied_at: datetime = Field(sa_type=DateTime(timezone=True))
    received_at: datetime = Field(sa_type=DateTime(timezone=True))
