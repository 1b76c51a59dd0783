"""Catalog and earning: products, kiosk slots, the stock log, earning rules, attendance.

Revision ID: 0003_catalog
Revises: 0002
Create Date: 2026-12-01

No foreign keys to the ledger's tables (its branch may be applied after this one): stock
movements name their redemption by transaction id only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_catalog"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("catalog",)
depends_on: str | Sequence[str] | None = None


def _utc_datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _catalog() -> None:
    op.create_table(
        "product",
        sa.Column("name_zh", sa.String(length=80), nullable=False),
        sa.Column("name_en", sa.String(length=80), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", _utc_datetime(), nullable=False),
        sa.Column("updated_at", _utc_datetime(), nullable=False),
        sa.CheckConstraint("price > 0", name="ck_product_price_positive"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kiosk_slot",
        sa.Column("kiosk_id", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("low_stock_threshold", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", _utc_datetime(), nullable=False),
        sa.CheckConstraint("stock >= 0", name="ck_kiosk_slot_stock_not_negative"),
        sa.CheckConstraint("capacity > 0", name="ck_kiosk_slot_capacity_positive"),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"]),
        sa.PrimaryKeyConstraint("kiosk_id", "slot"),
    )
    op.create_index("ix_kiosk_slot_venue", "kiosk_slot", ["venue_id"])
    op.create_index("ix_kiosk_slot_product_id", "kiosk_slot", ["product_id"])
    op.create_table(
        "stock_movement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kiosk_id", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("stock_after", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("by", sa.String(length=120), nullable=False),
        sa.Column("at", _utc_datetime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("transaction_id", "kind", name="uq_stock_movement_txn_kind"),
    )
    op.create_index("ix_stock_movement_kiosk_at", "stock_movement", ["kiosk_id", "at"])


def _earning() -> None:
    op.create_table(
        "earning_rules",
        sa.Column("checkin_points", sa.Integer(), nullable=False),
        sa.Column("activity_points", sa.Integer(), nullable=False),
        sa.Column("expiry_days", sa.Integer(), nullable=True),
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("updated_by", sa.String(length=120), nullable=False),
        sa.Column("updated_at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "activity_attendance",
        sa.Column("activity_id", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=24), nullable=False),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("posting_key", sa.String(length=160), nullable=True),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", _utc_datetime(), nullable=False),
        sa.ForeignKeyConstraint(["venue_id"], ["venue.id"]),
        sa.PrimaryKeyConstraint("activity_id", "member_id"),
    )
    op.create_index("ix_activity_attendance_venue_id", "activity_attendance", ["venue_id"])
    op.create_table(
        "points_job_cursor",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("position", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def upgrade() -> None:
    _catalog()
    _earning()


def downgrade() -> None:
    op.drop_table("points_job_cursor")
    op.drop_index("ix_activity_attendance_venue_id", table_name="activity_attendance")
    op.drop_table("activity_attendance")
    op.drop_table("earning_rules")
    op.drop_index("ix_stock_movement_kiosk_at", table_name="stock_movement")
    op.drop_table("stock_movement")
    op.drop_index("ix_kiosk_slot_product_id", table_name="kiosk_slot")
    op.drop_index("ix_kiosk_slot_venue", table_name="kiosk_slot")
    op.drop_table("kiosk_slot")
    op.drop_table("product")
