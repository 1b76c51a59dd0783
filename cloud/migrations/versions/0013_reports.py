"""Reports: scheduled report subscriptions and their sends.

Revision ID: 0013_reports
Revises: 0012_notify
Create Date: 2027-07-01
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0013_reports"
down_revision: str | Sequence[str] | None = "0012_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
