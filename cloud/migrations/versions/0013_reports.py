"""Reports: scheduled report subscriptions and their sends.

Revision ID: 0013_reports
Revises: 0012_notify
Create Date: 2027-07-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_reports"
down_revision: str | Sequence[str] | None = "0012_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "report_subscription",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=60), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("fmt", sa.String(length=8), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("auth_user.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", _utc(), nullable=False),
        sa.UniqueConstraint(
            "user_id", "scope", "target", "period", "email", name="uq_report_subscription"
        ),
    )
    op.create_index("ix_report_subscription_user_id", "report_subscription", ["user_id"])
    op.create_table(
        "report_send",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "subscription_id",
            sa.Integer(),
            sa.ForeignKey("report_subscription.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("period_key", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", _utc(), nullable=False),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.UniqueConstraint("subscription_id", "period_key", name="uq_report_send_period"),
    )
    op.create_index("ix_report_send_subscription_id", "report_send", ["subscription_id"])


def downgrade() -> None:
    op.drop_index("ix_report_send_subscription_id", table_name="report_send")
    op.drop_table("report_send")
    op.drop_index("ix_report_subscription_user_id", table_name="report_subscription")
    op.drop_table("report_subscription")
