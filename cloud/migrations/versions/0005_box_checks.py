"""Pending boxes keep every claim check recently heard, not only the last one.

A hello proves nothing (every unclaimed box shares one provisioning account), so a forged
hello that replaced a box's only check made its real label "wrong". Each box's stored check
moves into pending_box_check with the box's first and last hello as its own.

The rows are carried through Python rather than INSERT … SELECT: on SQLite, dropping the
column rebuilds pending_box (DROP TABLE and rename), and with foreign keys on, dropping a
parent table deletes its children first. So pending_box loses its column while nothing
refers to it yet, and the checks go in afterwards.

Revision ID: 0005_box_checks
Revises: 0004_devices
Create Date: 2027-01-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_box_checks"
down_revision: str | Sequence[str] | None = "0004_devices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


# Lightweight tables: SQLAlchemy quotes "check", a reserved word, in what it renders.
_box = sa.table(
    "pending_box",
    sa.column("serial", sa.String()),
    sa.column("check", sa.String()),
    sa.column("first_seen_at", _utc()),
    sa.column("last_seen_at", _utc()),
)
_check = sa.table(
    "pending_box_check",
    sa.column("serial", sa.String()),
    sa.column("check", sa.String()),
    sa.column("first_seen_at", _utc()),
    sa.column("last_seen_at", _utc()),
)


def upgrade() -> None:
    bind = op.get_bind()
    rows = [dict(row._mapping) for row in bind.execute(sa.select(*_box.c))]
    with op.batch_alter_table("pending_box") as batch:
        batch.drop_column("check")
    op.create_table(
        "pending_box_check",
        sa.Column("serial", sa.String(length=10), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", _utc(), nullable=False),
        sa.Column("last_seen_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["serial"], ["pending_box.serial"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("serial", "check"),
    )
    if rows:
        op.bulk_insert(_check, rows)


def downgrade() -> None:
    bind = op.get_bind()
    # The most recently heard check of each box is the one a single column can keep.
    # Ordered oldest first, so the later (newer) check of a serial wins in the dict.
    query = sa.select(_check.c.serial, _check.c.check).order_by(_check.c.last_seen_at)
    newest: dict[str, str] = dict(bind.execute(query).all())
    op.drop_table("pending_box_check")
    with op.batch_alter_table("pending_box") as batch:
        batch.add_column(sa.Column("check", sa.String(length=64), nullable=True))
    for serial, check in newest.items():
        bind.execute(_box.update().where(_box.c.serial == serial).values(check=check))
    # A box without a check cannot be claimed anyway; it is back with its next hello.
    bind.execute(_box.delete().where(_box.c.check.is_(None)))
    with op.batch_alter_table("pending_box") as batch:
        batch.alter_column("check", existing_type=sa.String(length=64), nullable=False)
