"""Tracking hits indexed by message, kind and time, for the consumer's scanner-burst window.

The consumer reads a message's clicks from the last seconds to spot a gateway clicking
several links at once. With ``(message_id, kind)`` alone that read visited every click the
message ever had, so a flood on one link made each batch slower than the last.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_tracking_events_message_id_kind_occurred_at",
        "tracking_events",
        ["message_id", "kind", "occurred_at"],
        unique=False,
    )
    op.drop_index("ix_tracking_events_message_id_kind", table_name="tracking_events")


def downgrade() -> None:
    op.create_index(
        "ix_tracking_events_message_id_kind",
        "tracking_events",
        ["message_id", "kind"],
        unique=False,
    )
    op.drop_index("ix_tracking_events_message_id_kind_occurred_at", table_name="tracking_events")
