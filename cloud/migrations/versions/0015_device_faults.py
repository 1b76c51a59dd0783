"""A device's faulty parts: the newest sensor.fault or sensor.recovered per part.

Revision ID: 0015_device_faults
Revises: 0014_venue_words
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_device_faults"
down_revision: str | Sequence[str] | None = "0014_venue_words"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_fault",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("sensor", sa.String(length=48), nullable=False),
        sa.Column("problem", sa.String(length=200), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("device_id", "sensor"),
    )


def downgrade() -> None:
    op.drop_table("device_fault")
