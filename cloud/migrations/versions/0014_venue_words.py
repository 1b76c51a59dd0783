"""Words a person reads: venue names per language.

Revision ID: 0014_venue_words
Revises: 0013_reports
Create Date: 2027-07-01
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0014_venue_words"
down_revision: str | Sequence[str] | None = "0013_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
