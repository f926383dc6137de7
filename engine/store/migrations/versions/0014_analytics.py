"""Analytics results kept for segments: RFM scores per contact; an index for event counts.

``ix_events_contact_id_type_occurred_at`` serves segment conditions that count one type of
event per contact in a window: about three times faster than the (contact, time) index on
PostgreSQL (bench/segments.py).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rfm_scores",
        sa.Column(
            "contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("recency_days", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.Numeric(precision=18, scale=2, asdecimal=False), nullable=False),
        sa.Column("r", sa.Integer(), nullable=False),
        sa.Column("f", sa.Integer(), nullable=False),
        sa.Column("m", sa.Integer(), nullable=False),
        sa.Column("class", sa.String(length=32), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_rfm_scores_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_rfm_scores")),
    )
    op.create_index("ix_rfm_scores_class", "rfm_scores", ["class", "contact_id"], unique=False)
    op.create_index(
        "ix_events_contact_id_type_occurred_at",
        "events",
        ["contact_id", "type", "occurred_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_events_contact_id_type_occurred_at", table_name="events")
    op.drop_index("ix_rfm_scores_class", table_name="rfm_scores")
    op.drop_table("rfm_scores")
