"""Initial schema: venues, devices, readings, device events and rejected messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc_datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "venue",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "device",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("software", sa.String(length=200), nullable=True),
        sa.Column("state_at", _utc_datetime(), nullable=True),
        sa.Column("last_seen_at", _utc_datetime(), nullable=True),
        sa.Column("created_at", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_device_venue_id", "device", ["venue_id"])

    # (device_id, seq) is the idempotency key of a reading; seq is a device counter that
    # survives restarts, so it needs 64 bits and must never autoincrement.
    op.create_table(
        "reading",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("sensor", sa.String(length=32), nullable=True),
        sa.Column("ts", _utc_datetime(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("received_at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "seq"),
    )
    op.create_index("ix_reading_venue_metric_ts", "reading", ["venue_id", "metric", "ts"])

    op.create_table(
        "device_event",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=48), nullable=False),
        sa.Column("ts", _utc_datetime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("received_at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "seq"),
    )
    op.create_index("ix_device_event_venue_ts", "device_event", ["venue_id", "ts"])

    op.create_table(
        "rejected_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("received_at", _utc_datetime(), nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("field_path", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rejected_message_device_id", "rejected_message", ["device_id"])
    op.create_index("ix_rejected_message_received_at", "rejected_message", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_rejected_message_received_at", table_name="rejected_message")
    op.drop_index("ix_rejected_message_device_id", table_name="rejected_message")
    op.drop_table("rejected_message")
    op.drop_index("ix_device_event_venue_ts", table_name="device_event")
    op.drop_table("device_event")
    op.drop_index("ix_reading_venue_metric_ts", table_name="reading")
    op.drop_table("reading")
    op.drop_index("ix_device_venue_id", table_name="device")
    op.drop_table("device")
    op.drop_table("venue")
