"""Tables of the aggregates: rollups, occupancy, per-venue settings and docking deliveries."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

import cloud.models  # noqa: F401 - registers the raw tables indexed below
from cloud.core.time import utc_now

# The rollup job finds what changed by arrival time, so it needs these two indexes on the
# raw tables; they live here (and in migration 0003_aggregates) because only it uses them.
Index("ix_reading_received_at", SQLModel.metadata.tables["reading"].c.received_at)
Index(
    "ix_device_event_received_at",
    SQLModel.metadata.tables["device_event"].c.received_at,
)


class VenueSettings(SQLModel, table=True):
    """What the aggregates need to know about a venue beyond cloud.models.Venue."""

    __tablename__ = "venue_settings"

    venue_id: str = Field(primary_key=True, foreign_key="venue.id", max_length=32)
    capacity: int | None = Field(default=None, ge=0)
    # Local hour of the daily occupancy reset; None: JobSettings.occupancy_quiet_hour.
    quiet_hour: int | None = Field(default=None, ge=0, le=23)
    # Service hours per day reported to the provincial platform; None: 24 (unattended).
    open_hours_per_day: float | None = Field(default=None, ge=0, le=24)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class TrafficHourly(SQLModel, table=True):
    """One venue's traffic in one UTC hour, recomputed from raw rows whenever they change."""

    __tablename__ = "traffic_hourly"

    venue_id: str = Field(primary_key=True, max_length=32)
    hour_utc: datetime = Field(primary_key=True, sa_type=DateTime(timezone=True))
    people_in: int = 0  # beam counters (people_in telemetry)
    people_out: int = 0
    counter_readings: int = 0  # 0: the venue had no beam counter reporting in this hour
    visits: int = 0  # access.decision with reason accepted
    unique_members: int = 0
    door_exits: int = 0  # door.opened with cause exit_button
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class TrafficDaily(SQLModel, table=True):
    """One venue's traffic on one day of the venue's own calendar."""

    __tablename__ = "traffic_daily"

    venue_id: str = Field(primary_key=True, max_length=32)
    local_date: date = Field(primary_key=True)
    people_in: int = 0
    people_out: int = 0
    visits: int = 0
    unique_members: int = 0  # distinct over the whole day, not a sum of the hours
    active_hours: int = 0  # hours of the day with any entry
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class EnergyDaily(SQLModel, table=True):
    """kWh one venue used on one local day, from its meters' cumulative registers."""

    __tablename__ = "energy_daily"

    venue_id: str = Field(primary_key=True, max_length=32)
    local_date: date = Field(primary_key=True)
    kwh: float = 0.0
    meters: int = 0
    meter_resets: int = 0
    meter_rollovers: int = 0
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class TemperatureHourly(SQLModel, table=True):
    """min/avg/max of one temperature sensor in one UTC hour."""

    __tablename__ = "temperature_hourly"

    venue_id: str = Field(primary_key=True, max_length=32)
    device_id: str = Field(primary_key=True, max_length=32)
    sensor: str = Field(primary_key=True, max_length=32)  # "" for a device's only sensor
    hour_utc: datetime = Field(primary_key=True, sa_type=DateTime(timezone=True))
    min_c: float
    avg_c: float
    max_c: float
    count: int


class Occupancy(SQLModel, table=True):
    """People inside a venue now: a baseline (set at reconciliation) plus the traffic since."""

    venue_id: str = Field(primary_key=True, max_length=32)
    count: int = 0
    baseline_count: int = 0
    baseline_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))
    last_reconciled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    reconciled_by: str | None = Field(default=None, max_length=80)


class OccupancyHourly(SQLModel, table=True):
    """Occupancy at the end of one UTC hour (the current hour: as of the last refresh)."""

    __tablename__ = "occupancy_hourly"

    venue_id: str = Field(primary_key=True, max_length=32)
    hour_utc: datetime = Field(primary_key=True, sa_type=DateTime(timezone=True))
    count: int


class DockingDelivery(SQLModel, table=True):
    """One day's push to the provincial platform: delivered, or failed with the last error."""

    __tablename__ = "docking_delivery"
    __table_args__ = (UniqueConstraint("day", name="uq_docking_delivery_day"),)

    id: int | None = Field(default=None, primary_key=True)
    day: date
    status: str = Field(max_length=16)  # "delivered" | "failed"
    attempts: int = 0
    http_status: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    payload_sha256: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
