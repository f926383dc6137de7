"""Admin sessions and delivery rollups.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_rollups",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bucket_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_delivery_rollups_dimension_bucket_at", "delivery_rollups", ["dimension", "bucket_at"]
    )
    op.create_index("ix_messages_sent_at", "messages", ["sent_at"])
    op.create_index("ix_messages_bounced_at", "messages", ["bounced_at"])
    op.create_index("ix_tracking_events_occurred_at", "tracking_events", ["occurred_at"])
    op.create_index("ix_suppressions_created_at", "suppressions", ["created_at"])
    op.create_table(
        "rollup_watermarks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("through", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("rollup_watermarks")
    op.drop_index("ix_suppressions_created_at", table_name="suppressions")
    op.drop_index("ix_tracking_events_occurred_at", table_name="tracking_events")
    op.drop_index("ix_messages_bounced_at", table_name="messages")
    op.drop_index("ix_messages_sent_at", table_name="messages")
    op.drop_index("ix_delivery_rollups_dimension_bucket_at", table_name="delivery_rollups")
    op.drop_table("delivery_rollups")
