"""Software releases: published manifests, release key rotations, rollouts, update windows.

Revision ID: 0011_releases
Revises: 0010_worker
Create Date: 2027-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_releases"
down_revision: str | Sequence[str] | None = "0010_worker"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("venue") as batch:
        batch.add_column(
            sa.Column(
                "update_window_start", sa.String(length=5), nullable=False, server_default="03:00"
            )
        )
        batch.add_column(
            sa.Column(
                "update_window_end", sa.String(length=5), nullable=False, server_default="05:00"
            )
        )
    op.create_table(
        "release",
        sa.Column("version", sa.String(length=40), primary_key=True),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("python", sa.String(length=8), nullable=False),
        sa.Column("machine", sa.String(length=16), nullable=False),
        sa.Column("notes", sa.String(length=200), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("wheel_count", sa.Integer(), nullable=False),
        sa.Column("wheels", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.String(length=24), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("published_at", _utc(), nullable=False),
        sa.Column("published_by", sa.String(length=80), nullable=False),
    )
    op.create_index("ix_release_serial", "release", ["serial"], unique=True)
    op.create_table(
        "release_key_rotation",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("old_key_id", sa.String(length=24), nullable=False, unique=True),
        sa.Column("new_key_id", sa.String(length=24), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("added_at", _utc(), nullable=False),
        sa.Column("added_by", sa.String(length=80), nullable=False),
    )
    op.create_table(
        "rollout",
        sa.Column("id", sa.String(length=40), primary_key=True),
        sa.Column(
            "release", sa.String(length=40), sa.ForeignKey("release.version"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("current_stage", sa.Integer(), nullable=False),
        sa.Column("stage_started_at", _utc(), nullable=True),
        sa.Column("stage_done_at", _utc(), nullable=True),
        sa.Column("failure_threshold", sa.Float(), nullable=False),
        sa.Column("force", sa.Boolean(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("excused", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
    )
    op.create_index("ix_rollout_release", "rollout", ["release"])
    op.create_index("ix_rollout_status", "rollout", ["status"])
    op.create_table(
        "rollout_device",
        sa.Column(
            "rollout_id", sa.String(length=40), sa.ForeignKey("rollout.id"), primary_key=True
        ),
        sa.Column("device_id", sa.String(length=32), sa.ForeignKey("device.id"), primary_key=True),
        sa.Column("venue_id", sa.String(length=32), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("command_id", sa.String(length=64), nullable=True),
        sa.Column("sent_at", _utc(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("running", sa.String(length=40), nullable=True),
        sa.Column("downloaded_bytes", sa.BigInteger(), nullable=False),
        sa.Column("reused_bytes", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
    )
    op.create_index("ix_rollout_device_venue_id", "rollout_device", ["venue_id"])
    op.create_index("ix_rollout_device_device", "rollout_device", ["device_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_rollout_device_device", table_name="rollout_device")
    op.drop_index("ix_rollout_device_venue_id", table_name="rollout_device")
    op.drop_table("rollout_device")
    op.drop_index("ix_rollout_status", table_name="rollout")
    op.drop_index("ix_rollout_release", table_name="rollout")
    op.drop_table("rollout")
    op.drop_table("release_key_rotation")
    op.drop_index("ix_release_serial", table_name="release")
    op.drop_table("release")
    with op.batch_alter_table("venue") as batch:
        batch.drop_column("update_window_end")
        batch.drop_column("update_window_start")
