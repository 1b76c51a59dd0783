"""Points: the append-only ledger (posting, ledger_entry), the balance cache, redemptions.

Revision ID: 0003_points
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_points"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("points",)
depends_on: str | Sequence[str] | None = None

_APPEND_ONLY = ("posting", "ledger_entry")
_MESSAGE = "the points ledger is append-only; post a correcting posting instead"


def _utc_datetime() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _create_tables() -> None:
    op.create_table(
        "posting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.Column("at", _utc_datetime(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("posting_id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=80), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["posting_id"], ["posting.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ledger_entry_posting_id", "ledger_entry", ["posting_id"])
    op.create_index("ix_ledger_entry_account_posting", "ledger_entry", ["account", "posting_id"])
    op.create_table(
        "account_balance",
        sa.Column("account", sa.String(length=80), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _utc_datetime(), nullable=False),
        sa.PrimaryKeyConstraint("account"),
    )
    op.create_table(
        "redemption",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("kiosk_id", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.String(length=32), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reserved_at", _utc_datetime(), nullable=False),
        sa.Column("expires_at", _utc_datetime(), nullable=False),
        sa.Column("settled_at", _utc_datetime(), nullable=True),
        sa.Column("settlement", sa.String(length=16), nullable=True),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("transaction_id"),
    )
    op.create_index("ix_redemption_member_id", "redemption", ["member_id"])
    op.create_index("ix_redemption_kiosk_id", "redemption", ["kiosk_id"])
    op.create_index("ix_redemption_state_expires", "redemption", ["state", "expires_at"])


def _append_only_triggers(dialect: str) -> None:
    """Refuse UPDATE and DELETE of ledger rows in the database itself, for every client."""
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION points_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        )
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION points_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION points_append_only()"
            )
        return
    for table in _APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )


def upgrade() -> None:
    _create_tables()
    _append_only_triggers(op.get_bind().dialect.name)


def downgrade() -> None:
    # Dropping the tables drops their triggers on both databases.
    op.drop_table("redemption")
    op.drop_table("account_balance")
    op.drop_table("ledger_entry")
    op.drop_table("posting")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION points_append_only()")
