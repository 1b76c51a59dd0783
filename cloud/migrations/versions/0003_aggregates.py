"""Aggregates: rollups, occupancy, venue settings, job leader/state, docking deliveries.

TimescaleDB is left out on purpose: turning ``reading`` into a hypertable is the ingest
work's call (it owns that table); these rollups work the same either way.

Revision ID: 0003_aggregates
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_aggregates"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("aggregates",)
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _venue_pk(*columns: sa.Column[object]) -> list[sa.Column[object]]:
    return [sa.Column("venue_id", sa.String(length=32), nullable=False), *columns]


def upgrade() -> None:
    op.create_index("ix_reading_received_at", "reading", ["received_at"])
    op.create_index("ix_device_event_received_at", "device_event", ["received_at"])
    op.create_table(
        "venue_settings",
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("quiet_hour", sa.Integer(), nullable=True),
        sa.Column("open_hours_per_day", sa.Float(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"]),
        sa.PrimaryKeyConstraint("venue_id"),
    )
    op.create_table(
        "traffic_hourly",
        *_venue_pk(
            sa.Column("hour_utc", _utc(), nullable=False),
            sa.Column("people_in", sa.Integer(), nullable=False),
            sa.Column("people_out", sa.Integer(), nullable=False),
            sa.Column("counter_readings", sa.Integer(), nullable=False),
            sa.Column("visits", sa.Integer(), nullable=False),
            sa.Column("unique_members", sa.Integer(), nullable=False),
            sa.Column("door_exits", sa.Integer(), nullable=False),
            sa.Column("updated_at", _utc(), nullable=False),
        ),
        sa.PrimaryKeyConstraint("venue_id", "hour_utc"),
    )
    op.create_table(
        "traffic_daily",
        *_venue_pk(
            sa.Column("local_date", sa.Date(), nullable=False),
            sa.Column("people_in", sa.Integer(), nullable=False),
            sa.Column("people_out", sa.Integer(), nullable=False),
            sa.Column("visits", sa.Integer(), nullable=False),
            sa.Column("unique_members", sa.Integer(), nullable=False),
            sa.Column("active_hours", sa.Integer(), nullable=False),
            sa.Column("updated_at", _utc(), nullable=False),
        ),
        sa.PrimaryKeyConstraint("venue_id", "local_date"),
    )
    op.create_table(
        "energy_daily",
        *_venue_pk(
            sa.Column("local_date", sa.Date(), nullable=False),
            sa.Column("kwh", sa.Float(), nullable=False),
            sa.Column("meters", sa.Integer(), nullable=False),
            sa.Column("meter_resets", sa.Integer(), nullable=False),
            sa.Column("meter_rollovers", sa.Integer(), nullable=False),
            sa.Column("updated_at", _utc(), nullable=False),
        ),
        sa.PrimaryKeyConstraint("venue_id", "local_date"),
    )
    op.create_table(
        "temperature_hourly",
        *_venue_pk(
            sa.Column("device_id", sa.String(length=32), nullable=False),
            sa.Column("sensor", sa.String(length=32), nullable=False),
            sa.Column("hour_utc", _utc(), nullable=False),
            sa.Column("min_c", sa.Float(), nullable=False),
            sa.Column("avg_c", sa.Float(), nullable=False),
            sa.Column("max_c", sa.Float(), nullable=False),
            sa.Column("count", sa.Integer(), nullable=False),
        ),
        sa.PrimaryKeyConstraint("venue_id", "device_id", "sensor", "hour_utc"),
    )
    op.create_table(
        "occupancy",
        *_venue_pk(
            sa.Column("count", sa.Integer(), nullable=False),
            sa.Column("baseline_count", sa.Integer(), nullable=False),
            sa.Column("baseline_at", _utc(), nullable=False),
            sa.Column("updated_at", _utc(), nullable=False),
            sa.Column("last_reconciled_at", _utc(), nullable=True),
            sa.Column("reconciled_by", sa.String(length=80), nullable=True),
        ),
        sa.PrimaryKeyConstraint("venue_id"),
    )
    op.create_table(
        "occupancy_hourly",
        *_venue_pk(
            sa.Column("hour_utc", _utc(), nullable=False),
            sa.Column("count", sa.Integer(), nullable=False),
        ),
        sa.PrimaryKeyConstraint("venue_id", "hour_utc"),
    )
    op.create_table(
        "job_leader",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "job_state",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("watermark", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "device_offline_mark",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("marked_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_table(
        "docking_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("delivered_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("day", name="uq_docking_delivery_day"),
    )


def downgrade() -> None:
    for table in (
        "docking_delivery",
        "device_offline_mark",
        "job_state",
        "job_leader",
        "occupancy_hourly",
        "occupancy",
        "temperature_hourly",
        "energy_daily",
        "traffic_daily",
        "traffic_hourly",
        "venue_settings",
    ):
        op.drop_table(table)
    op.drop_index("ix_device_event_received_at", table_name="device_event")
    op.drop_index("ix_reading_received_at", table_name="reading")
