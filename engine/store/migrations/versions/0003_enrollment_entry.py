"""Enrollments: the entry event, enrolled once per journey, and one live enrollment per key.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status != 'exited'")


def upgrade() -> None:
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "entry_event_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_foreign_key(
            op.f("fk_enrollments_entry_event_id_events"),
            "events",
            ["entry_event_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_unique_constraint(
            op.f("uq_enrollments_journey_id_entry_event_id"), ["journey_id", "entry_event_id"]
        )
        batch_op.create_index(
            "uq_enrollments_live_key",
            ["journey_id", "contact_id", "key"],
            unique=True,
            sqlite_where=LIVE,
            postgresql_where=LIVE,
        )


def downgrade() -> None:
    with op.batch_alter_table("enrollments", schema=None) as batch_op:
        batch_op.drop_index("uq_enrollments_live_key")
        batch_op.drop_constraint(op.f("uq_enrollments_journey_id_entry_event_id"), type_="unique")
        batch_op.drop_constraint(op.f("fk_enrollments_entry_event_id_events"), type_="foreignkey")
        batch_op.drop_column("entry_event_id")
