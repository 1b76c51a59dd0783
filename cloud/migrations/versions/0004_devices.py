"""Devices: lifecycle columns, pending boxes, commands, desired configs, health, diagnostics.

Merges every 0003 branch: the device tables refer to auth tokens and the ingest branch's
device_config, so from here on the schema has one head again.

Revision ID: 0004_devices
Revises: 0003_aggregates, 0003_alerts, 0003_auth, 0003_catalog, 0003_ingest, 0003_points
Create Date: 2027-01-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_devices"
down_revision: str | Sequence[str] | None = (
    "0003_aggregates",
    "0003_alerts",
    "0003_auth",
    "0003_catalog",
    "0003_ingest",
    "0003_points",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _device_columns() -> None:
    # batch: SQLite cannot add a unique index or a NOT NULL column in place on every
    # version; batch mode rebuilds the table there and is a plain ALTER on PostgreSQL.
    with op.batch_alter_table("device") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), nullable=True))
        # Rows from before claiming existed are boxes ingest met online: active.
        batch.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="active")
        )
        batch.add_column(sa.Column("serial", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("claimed_at", _utc(), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("decommissioned_at", _utc(), nullable=True))
        batch.add_column(sa.Column("decommissioned_by", sa.String(length=80), nullable=True))
        batch.add_column(sa.Column("broker_removed_at", _utc(), nullable=True))
        batch.add_column(
            sa.Column(
                "credential_generation", sa.Integer(), nullable=False, server_default="0"
            )
        )
        batch.add_column(sa.Column("api_token_id", sa.String(length=16), nullable=True))
        batch.create_index("ix_device_status", ["status"], unique=False)
        batch.create_index("ix_device_serial", ["serial"], unique=True)


def _pending_box() -> None:
    op.create_table(
        "pending_box",
        sa.Column("serial", sa.String(length=10), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", _utc(), nullable=False),
        sa.Column("last_seen_at", _utc(), nullable=False),
        sa.Column("software", sa.String(length=200), nullable=True),
        sa.Column("hardware", sa.String(length=200), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", _utc(), nullable=True),
        sa.Column("device_id", sa.String(length=32), nullable=True),
        sa.Column("claimed_at", _utc(), nullable=True),
        sa.Column("sealed_bundle", sa.Text(), nullable=True),
        sa.Column("delivered_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("serial"),
    )


def _commands_and_configs() -> None:
    op.create_table(
        "device_desired_config",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("issued_at", _utc(), nullable=False),
        sa.Column("issued_by", sa.String(length=80), nullable=False),
        sa.Column("published_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("device_id", "version"),
    )
    op.create_table(
        "device_command",
        sa.Column("command_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("issued_by", sa.String(length=80), nullable=False),
        sa.Column("issued_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("published_at", _utc(), nullable=True),
        sa.Column("result_at", _utc(), nullable=True),
        sa.Column("detail", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("command_id"),
    )
    op.create_index("ix_device_command_status", "device_command", ["status"], unique=False)
    op.create_index(
        "ix_device_command_device_issued",
        "device_command",
        ["device_id", "issued_at"],
        unique=False,
    )


def _health() -> None:
    op.create_table(
        "device_health",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", _utc(), nullable=False),
        sa.Column("software", sa.String(length=200), nullable=True),
        sa.Column("uptime_s", sa.BigInteger(), nullable=False),
        sa.Column("disk_free_mb", sa.BigInteger(), nullable=True),
        sa.Column("disk_total_mb", sa.BigInteger(), nullable=True),
        sa.Column("cpu_temp_c", sa.Float(), nullable=True),
        sa.Column("outbox_depth", sa.BigInteger(), nullable=False),
        sa.Column("config_version", sa.BigInteger(), nullable=False),
        sa.Column("credential_generation", sa.BigInteger(), nullable=False),
        sa.Column("issuer_keys", sa.String(length=200), nullable=True),
        sa.Column("received_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_table(
        "device_config_rejection",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", _utc(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_table(
        "device_diagnostics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("command_id", sa.String(length=64), nullable=False),
        sa.Column("ts", _utc(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_device_diagnostics_device_id", "device_diagnostics", ["device_id"], unique=False
    )


def upgrade() -> None:
    _device_columns()
    _pending_box()
    _commands_and_configs()
    _health()


def downgrade() -> None:
    op.drop_index("ix_device_diagnostics_device_id", table_name="device_diagnostics")
    op.drop_table("device_diagnostics")
    op.drop_table("device_config_rejection")
    op.drop_table("device_health")
    op.drop_index("ix_device_command_device_issued", table_name="device_command")
    op.drop_index("ix_device_command_status", table_name="device_command")
    op.drop_table("device_command")
    op.drop_table("device_desired_config")
    op.drop_table("pending_box")
    with op.batch_alter_table("device") as batch:
        batch.drop_index("ix_device_serial")
        batch.drop_index("ix_device_status")
        for column in (
            "api_token_id",
            "credential_generation",
            "broker_removed_at",
            "decommissioned_by",
            "decommissioned_at",
            "claimed_by",
            "claimed_at",
            "serial",
            "status",
            "role",
        ):
            batch.drop_column(column)
