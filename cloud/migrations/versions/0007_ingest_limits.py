"""Rejected messages are counted, not copied: repeats within a minute share one row.

A flood of refused messages (one box sending 10 000 non-JSON messages a second) used to add
a row each (issue 15, finding 5). Now one row per sender, kind of refusal and minute holds
the first sample, a ``count`` and when the last repeat arrived; ``dedupe_key`` is that
row's identity, so ingest adds to it with one upsert. Rows from before keep a NULL key.
Also an index on device.api_token_id: each request with a device's API token looks it up.

Revision ID: 0007_ingest_limits
Revises: 0006_dashboard
Create Date: 2027-03-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_ingest_limits"
down_revision: str | Sequence[str] | None = "0006_dashboard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rejected_message") as batch:
        batch.add_column(sa.Column("count", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("dedupe_key", sa.String(length=64), nullable=True))
        batch.create_index("ix_rejected_message_dedupe_key", ["dedupe_key"], unique=True)
    op.execute("UPDATE rejected_message SET last_seen_at = received_at")
    # A device's API token is looked up by its device on every request (issue 15).
    op.create_index("ix_device_api_token_id", "device", ["api_token_id"])
    # Whether a hello's box takes the client id its bundle names (older boxes do not).
    with op.batch_alter_table("pending_box_check") as batch:
        batch.add_column(
            sa.Column("accepts_client_id", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_box_check") as batch:
        batch.drop_column("accepts_client_id")
    op.drop_index("ix_device_api_token_id", table_name="device")
    with op.batch_alter_table("rejected_message") as batch:
        batch.drop_index("ix_rejected_message_dedupe_key")
        batch.drop_column("dedupe_key")
        batch.drop_column("last_seen_at")
        batch.drop_column("count")
