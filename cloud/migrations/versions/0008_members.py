"""The union's roster: a member's standing, name, phone tail and membership end; groups;
the roster's audit; members' phones (mode 2); scoped integration tokens and their calls' log.

``member.valid_until`` (and the change log's copy) goes to the doors, which refuse a lapsed
member as ``membership_expired``. ``standing`` is the roster's word (active, suspended,
revoked); existing rows take it from their door status. The groups table is seeded with
the occupations the union's stations serve.

Revision ID: 0008_members
Revises: 0007_ingest_limits
Create Date: 2027-04-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_members"
down_revision: str | Sequence[str] | None = "0007_ingest_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUPS = [
    ("rider", "外卖骑手", "Delivery rider"),
    ("courier", "快递员", "Courier"),
    ("sanitation", "环卫工人", "Sanitation worker"),
    ("driver", "网约车司机", "Ride-hailing driver"),
    ("trucker", "货车司机", "Truck driver"),
    ("security", "保安", "Security guard"),
    ("domestic", "家政服务员", "Domestic worker"),
    ("builder", "建筑工人", "Construction worker"),
    ("staff", "工会工作人员", "Union staff"),
    ("other", "其他", "Other"),
]


def upgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("standing", sa.String(length=10), nullable=False, server_default="active")
        )
        batch.add_column(sa.Column("display_name", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("phone_tail", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("changed_by", sa.String(length=80), nullable=True))
        batch.create_index("ix_member_phone_tail", ["phone_tail"])
    op.execute("UPDATE member SET standing = 'revoked' WHERE status = 'revoked'")
    with op.batch_alter_table("member_change") as batch:
        batch.add_column(sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True))
    groups = op.create_table(
        "member_group",
        sa.Column("name", sa.String(length=12), primary_key=True),
        sa.Column("zh", sa.String(length=20), nullable=False),
        sa.Column("en", sa.String(length=40), nullable=False),
    )
    op.bulk_insert(groups, [{"name": n, "zh": zh, "en": en} for n, zh, en in GROUPS])
    op.create_table(
        "member_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("member_id", sa.String(length=24), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("standing", sa.String(length=10), nullable=False),
        sa.Column("by", sa.String(length=80), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_member_audit_member_at", "member_audit", ["member_id", "at"])
    op.create_table(
        "member_phone",
        sa.Column("id", sa.String(length=16), primary_key=True),
        sa.Column("member_id", sa.String(length=24), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=80), nullable=True),
    )
    op.create_index("ix_member_phone_member", "member_phone", ["member_id"])
    with op.batch_alter_table("auth_api_token") as batch:
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "auth_integration_call",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_id", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_auth_integration_call_token_at", "auth_integration_call", ["token_id", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_auth_integration_call_token_at", table_name="auth_integration_call")
    op.drop_table("auth_integration_call")
    with op.batch_alter_table("auth_api_token") as batch:
        batch.drop_column("scopes")
    op.drop_index("ix_member_phone_member", table_name="member_phone")
    op.drop_table("member_phone")
    op.drop_index("ix_member_audit_member_at", table_name="member_audit")
    op.drop_table("member_audit")
    op.drop_table("member_group")
    with op.batch_alter_table("member_change") as batch:
        batch.drop_column("valid_until")
    with op.batch_alter_table("member") as batch:
        batch.drop_index("ix_member_phone_tail")
        batch.drop_column("changed_by")
        batch.drop_column("phone_tail")
        batch.drop_column("display_name")
        batch.drop_column("standing")
        batch.drop_column("valid_until")
