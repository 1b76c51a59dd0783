"""Auth: users, their venue scope, API tokens (only a hash of each secret) and their scope.

Revision ID: 0003_auth
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_auth"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("auth",)
depends_on: str | Sequence[str] | None = None


def _utc_datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=24), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auth_user_username", "auth_user", ["username"], unique=True)

    op.create_table(
        "auth_user_venue",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["auth_user.id"]),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"]),
        sa.PrimaryKeyConstraint("user_id", "venue_id"),
    )

    op.create_table(
        "auth_api_token",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("expires_at", _utc_datetime(), nullable=True),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", _utc_datetime(), nullable=False),
        sa.Column("revoked_at", _utc_datetime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "auth_api_token_venue",
        sa.Column("token_id", sa.String(length=16), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["auth_api_token.id"]),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"]),
        sa.PrimaryKeyConstraint("token_id", "venue_id"),
    )


def downgrade() -> None:
    op.drop_table("auth_api_token_venue")
    op.drop_table("auth_api_token")
    op.drop_table("auth_user_venue")
    op.drop_index("ix_auth_user_username", table_name="auth_user")
    op.drop_table("auth_user")
