"""Ingest: the config version each device applied; reading as a TimescaleDB hypertable.

Revision ID: 0003_ingest
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_ingest"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = ("ingest",)
depends_on: str | Sequence[str] | None = None

# reading's idempotency key is (device_id, seq), and a hypertable's unique indexes must
# hold its partitioning column, so the dimension is seq, not ts. Seqs are seeded from the
# device clock in microseconds (docs/protocol.md), so one chunk spans about this long of
# device history: a day, in microseconds.
HYPERTABLE_CHUNK_SEQS = 86_400 * 1_000_000


def upgrade() -> None:
    op.create_table(
        "device_config",
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("device_id"),
    )
    make_reading_hypertable(op.get_bind())


def timescaledb_available(bind: sa.Connection) -> bool:
    if bind.dialect.name != "postgresql":
        return False
    found = bind.execute(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).first()
    return found is not None


def make_reading_hypertable(bind: sa.Connection) -> bool:
    """Turn reading into a hypertable where TimescaleDB is installed; a no-op elsewhere."""
    if not timescaledb_available(bind):
        return False
    bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS timescaledb"))
    bind.execute(
        sa.text(
            "SELECT create_hypertable('reading', 'seq', "
            "chunk_time_interval => CAST(:chunk AS bigint), migrate_data => true, "
            "if_not_exists => true)"
        ),
        {"chunk": HYPERTABLE_CHUNK_SEQS},
    )
    return True


def downgrade() -> None:
    # A hypertable stays one: TimescaleDB has no way back short of copying the table.
    op.drop_table("device_config")
