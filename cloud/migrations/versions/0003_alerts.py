"""Alerts: rules (district defaults seeded here), sensor roles, alerts and webhook deliveries.

Revision ID: 0003_alerts
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003_alerts"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("alerts",)
depends_on: str | Sequence[str] | None = None

# A frozen copy of cloud.alerts.defaults.DEFAULT_RULES as of this revision: a migration must
# keep doing what it did when it was written. (kind, threshold, duration_s, season)
_DEFAULTS = (
    ("fridge_warm", 8.0, 600, None, None),
    ("heat", 35.0, 600, 6, 9),
    ("door_held_open", 60.0, 0, None, None),
    ("door_forced", None, 0, None, None),
    ("device_offline", None, 300, None, None),
    ("over_capacity", 1.0, 0, None, None),
    ("energy_spike", 3.0, 3600, None, None),
)


def _utc_datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _create_alert_rule() -> sa.Table:
    return op.create_table(
        "alert_rule",
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("season_start_month", sa.Integer(), nullable=True),
        sa.Column("season_end_month", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("venue_id", "kind", name="uq_alert_rule_venue_kind"),
    )


def upgrade() -> None:
    rule = _create_alert_rule()
    seeded_at = datetime.now(UTC)
    op.bulk_insert(
        rule,
        [
            {
                "venue_id": None,
                "kind": kind,
                "threshold": threshold,
                "duration_s": duration_s,
                "enabled": True,
                "season_start_month": start,
                "season_end_month": end,
                "updated_by": "system",
                "updated_at": seeded_at,
            }
            for kind, threshold, duration_s, start, end in _DEFAULTS
        ],
    )

    op.create_table(
        "sensor_role",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("sensor", sa.String(length=32), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=True),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"]),
        sa.PrimaryKeyConstraint("device_id", "sensor"),
    )
    op.create_index("ix_sensor_role_venue_id", "sensor_role", ["venue_id"])

    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=True),
        sa.Column("sensor", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("active_key", sa.String(length=160), nullable=True),
        sa.Column("opened_at", _utc_datetime(), nullable=False),
        sa.Column("last_seen_at", _utc_datetime(), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("message_zh", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=120), nullable=True),
        sa.Column("acknowledged_at", _utc_datetime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.Column("resolved_at", _utc_datetime(), nullable=True),
        sa.Column("auto_resolved", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    # One unresolved alert per condition, enforced by the database.
    op.create_index("ix_alert_active_key", "alert", ["active_key"], unique=True)
    op.create_index("ix_alert_dedupe_key", "alert", ["dedupe_key"])
    op.create_index("ix_alert_venue_status_opened", "alert", ["venue_id", "status", "opened_at"])

    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", _utc_datetime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _utc_datetime(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("delivered_at", _utc_datetime(), nullable=True),
        sa.Column("gave_up_at", _utc_datetime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alert.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhook_delivery_alert_id", "webhook_delivery", ["alert_id"])
    op.create_index("ix_webhook_delivery_due", "webhook_delivery", ["done", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("webhook_delivery")
    op.drop_table("alert")
    op.drop_table("sensor_role")
    op.drop_table("alert_rule")
