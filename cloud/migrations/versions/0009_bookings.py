"""Rooms to book, activities with sign-ups; a booking knows its room and who made it.

Revision ID: 0009_bookings
Revises: 0008_members
Create Date: 2027-04-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_bookings"
down_revision: str | Sequence[str] | None = "0008_members"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "room",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("venue_id", sa.String(length=32), sa.ForeignKey("venue.id"), nullable=False),
        sa.Column("door", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=40), nullable=False),
        sa.Column("name_en", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("opens", sa.String(length=5), nullable=False),
        sa.Column("closes", sa.String(length=5), nullable=False),
        sa.Column("days_ahead", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_room_venue_id", "room", ["venue_id"])
    with op.batch_alter_table("booking") as batch:
        batch.add_column(sa.Column("room_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("booked_by", sa.String(length=80), nullable=True))
        batch.create_index("ix_booking_room_id", ["room_id"])
    op.create_table(
        "activity",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("venue_id", sa.String(length=32), sa.ForeignKey("venue.id"), nullable=False),
        sa.Column("title", sa.String(length=80), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_activity_venue_starts", "activity", ["venue_id", "starts_at"])
    op.create_table(
        "activity_signup",
        sa.Column(
            "activity_id",
            sa.String(length=32),
            sa.ForeignKey("activity.id"),
            primary_key=True,
        ),
        sa.Column("member_id", sa.String(length=24), primary_key=True),
        sa.Column("signed_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_up_by", sa.String(length=80), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_activity_signup_member_id", "activity_signup", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_activity_signup_member_id", table_name="activity_signup")
    op.drop_table("activity_signup")
    op.drop_index("ix_activity_venue_starts", table_name="activity")
    op.drop_table("activity")
    with op.batch_alter_table("booking") as batch:
        batch.drop_index("ix_booking_room_id")
        batch.drop_column("booked_by")
        batch.drop_column("room_id")
    op.drop_index("ix_room_venue_id", table_name="room")
    op.drop_table("room")
