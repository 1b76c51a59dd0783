"""The worker's phone: venue profiles for the finder, walk-in workers, sign-in codes by SMS.

Revision ID: 0010_worker
Revises: 0009_bookings
Create Date: 2027-05-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_worker"
down_revision: str | Sequence[str] | None = "0009_bookings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("venue") as batch:
        batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("address", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("description", sa.String(length=400), nullable=True))
        batch.add_column(sa.Column("amenities", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("hours", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("admits_guests", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("poster_edition", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("phone_hash", sa.String(length=64), nullable=True))
        batch.create_index("ix_member_phone_hash", ["phone_hash"])
    op.create_table(
        "worker",
        sa.Column("id", sa.String(length=16), primary_key=True),
        sa.Column("username", sa.String(length=64), nullable=False, unique=True),
        sa.Column("member_id", sa.String(length=24), nullable=False),
        sa.Column("phone_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("phone_tail", sa.String(length=4), nullable=False),
        sa.Column("occupation", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=40), nullable=True),
        sa.Column("lang", sa.String(length=5), nullable=False),
        sa.Column("consent_version", sa.String(length=16), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("joined_venue", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_worker_member_id", "worker", ["member_id"])
    op.create_table(
        "worker_phone_code",
        sa.Column("phone_hash", sa.String(length=64), primary_key=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_table(
        "worker_sms_sent",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_worker_sms_phone_at", "worker_sms_sent", ["phone_hash", "sent_at"])
    op.create_index("ix_worker_sms_address_at", "worker_sms_sent", ["address", "sent_at"])
    # The walk-in's guest pass: a group the roster knows, so a door policy can name it.
    op.execute(
        sa.text(
            "INSERT INTO member_group (name, zh, en) VALUES ('guest', '访客', 'Guest') "
            "ON CONFLICT DO NOTHING"
        )
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM member_group WHERE name = 'guest'"))
    op.drop_index("ix_worker_sms_address_at", table_name="worker_sms_sent")
    op.drop_index("ix_worker_sms_phone_at", table_name="worker_sms_sent")
    op.drop_table("worker_sms_sent")
    op.drop_table("worker_phone_code")
    op.drop_index("ix_worker_member_id", table_name="worker")
    op.drop_table("worker")
    with op.batch_alter_table("member") as batch:
        batch.drop_index("ix_member_phone_hash")
        batch.drop_column("phone_hash")
    with op.batch_alter_table("venue") as batch:
        for name in (
            "poster_edition",
            "admits_guests",
            "hours",
            "amenities",
            "description",
            "address",
            "longitude",
            "latitude",
        ):
            batch.drop_column(name)
