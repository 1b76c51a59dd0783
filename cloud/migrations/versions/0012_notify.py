"""Notifications: subscriptions, channels, deliveries and escalations.

Revision ID: 0012_notify
Revises: 0011_releases
Create Date: 2027-07-01
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0012_notify"
down_revision: str | Sequence[str] | None = "0011_releases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
