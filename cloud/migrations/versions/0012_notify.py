"""Notifications: subscriptions, channels, deliveries and escalations.

Revision ID: 0012_notify
Revises: 0011_releases
Create Date: 2027-07-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_notify"
down_revision: str | Sequence[str] | None = "0011_releases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alert") as batch:
        batch.add_column(sa.Column("ack_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("resolve_note", sa.Text(), nullable=True))
    op.create_table(
        "notify_subscription",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("min_severity", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("escalate_after_min", sa.Integer(), nullable=True),
        sa.Column("quiet_min", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
    )
    op.create_index("ix_notify_subscription_username", "notify_subscription", ["username"])
    op.create_table(
        "notify_delivery",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=160), nullable=True),
        sa.Column("venue_id", sa.String(length=32), nullable=True),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("next_attempt_at", _utc(), nullable=True),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_notify_delivery_alert_id", "notify_delivery", ["alert_id"])
    op.create_index("ix_notify_delivery_subscription_id", "notify_delivery", ["subscription_id"])
    op.create_index("ix_notify_delivery_due", "notify_delivery", ["status", "next_attempt_at"])
    op.create_index(
        "ix_notify_delivery_user_created", "notify_delivery", ["username", "created_at"]
    )
    op.create_index("ix_notify_delivery_created", "notify_delivery", ["created_at"])
    op.create_index(
        "ix_notify_delivery_sub_key",
        "notify_delivery",
        ["subscription_id", "dedupe_key", "created_at"],
    )


def downgrade() -> None:
    op.drop_table("notify_delivery")
    op.drop_table("notify_subscription")
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("resolve_note")
        batch.drop_column("ack_note")
