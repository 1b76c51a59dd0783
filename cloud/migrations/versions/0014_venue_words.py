"""Words a person reads: venue names per language.

Revision ID: 0014_venue_words
Revises: 0013_reports
Create Date: 2027-07-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_venue_words"
down_revision: str | Sequence[str] | None = "0013_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: an existing venue's English pages show its one name until someone adds one.
    with op.batch_alter_table("venue") as batch:
        batch.add_column(sa.Column("name_en", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("venue") as batch:
        batch.drop_column("name_en")
