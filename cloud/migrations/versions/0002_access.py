"""Door sync: members and their change log, issuer public keys, bookings, stream counters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc_datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    stream = op.create_table(
        "sync_stream",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("floor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # Seeded so that taking a version is always one UPDATE, never an INSERT race.
    op.bulk_insert(
        stream,
        [{"name": name, "version": 0, "floor": 0} for name in ("members", "keys", "bookings")],
    )

    op.create_table(
        "member",
        sa.Column("member_id", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("phone_certs_after", _utc_datetime(), nullable=True),
        sa.Column("updated_version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("member_id"),
    )
    op.create_index("ix_member_updated_version", "member", ["updated_version"])

    # version is the stream's counter, taken under the sync_stream row lock: never autoincrement.
    op.create_table(
        "member_change",
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("phone_certs_after", _utc_datetime(), nullable=True),
        sa.Column("at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_index("ix_member_change_member_id", "member_change", ["member_id"])

    op.create_table(
        "issuer_public_key",
        sa.Column("kid", sa.String(length=8), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("not_before", _utc_datetime(), nullable=True),
        sa.Column("not_after", _utc_datetime(), nullable=True),
        sa.Column("updated_version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("kid"),
    )

    op.create_table(
        "booking",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("door", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=24), nullable=False),
        sa.Column("starts_at", _utc_datetime(), nullable=False),
        sa.Column("ends_at", _utc_datetime(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_booking_venue_version", "booking", ["venue_id", "version"])


def downgrade() -> None:
    op.drop_index("ix_booking_venue_version", table_name="booking")
    op.drop_table("booking")
    op.drop_table("issuer_public_key")
    op.drop_index("ix_member_change_member_id", table_name="member_change")
    op.drop_table("member_change")
    op.drop_index("ix_member_updated_version", table_name="member")
    op.drop_table("member")
    op.drop_table("sync_stream")
