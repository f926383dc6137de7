"""Scoring models, fit grades, lifecycle rules and sales pools.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "scoring_configs",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_scoring_configs")),
    )
    op.create_table(
        "scored_events",
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name=op.f("fk_scored_events_event_id_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("model", "event_id", name=op.f("pk_scored_events")),
    )
    op.create_table(
        "decay_runs",
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("decayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_decay_runs")),
    )
    op.create_table(
        "pool_cursors",
        sa.Column("pool", sa.String(length=100), nullable=False),
        sa.Column("turns", _ID, nullable=False),
        sa.PrimaryKeyConstraint("pool", name=op.f("pk_pool_cursors")),
    )
    op.create_table(
        "handoff_timers",
        sa.Column("handoff_id", _ID, nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["handoff_id"],
            ["handoffs.id"],
            name=op.f("fk_handoff_timers_handoff_id_handoffs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("handoff_id", name=op.f("pk_handoff_timers")),
    )


def downgrade() -> None:
    op.drop_table("handoff_timers")
    op.drop_table("pool_cursors")
    op.drop_table("decay_runs")
    op.drop_table("scored_events")
    op.drop_table("scoring_configs")
