"""The dashboard: venues get a district, which the overview filters hundreds of venues by.

(The live feed's "what arrived since" scans use the received_at indexes of 0003_aggregates.)

Revision ID: 0006_dashboard
Revises: 0005_box_checks
Create Date: 2027-02-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_dashboard"
down_revision: str | Sequence[str] | None = "0005_box_checks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("venue") as batch:
        batch.add_column(sa.Column("district", sa.String(length=60), nullable=True))
        batch.create_index("ix_venue_district", ["district"])


def downgrade() -> None:
    with op.batch_alter_table("venue") as batch:
        batch.drop_index("ix_venue_district")
        batch.drop_column("district")
