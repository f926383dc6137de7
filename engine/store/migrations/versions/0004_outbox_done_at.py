"""Outbox rows are done when their consumer says so, not when the broker took them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Two steps: SQLite's table copy cannot index a column renamed in the same batch.
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_dispatched_at_available_at")
        batch_op.alter_column("dispatched_at", new_column_name="done_at")
    op.create_index("ix_outbox_done_at_available_at", "outbox", ["done_at", "available_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_done_at_available_at", table_name="outbox")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("done_at", new_column_name="dispatched_at")
    op.create_index(
        "ix_outbox_dispatched_at_available_at", "outbox", ["dispatched_at", "available_at"]
    )
