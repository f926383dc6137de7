"""Step runs keyed by (enrollment, step, attempt), with no surrogate id and no foreign key.

A worker writes several step runs for every enrollment it steps. The foreign key to
``enrollments`` was checked row by row, at about a sixth of the database's work per step,
and the id added a sequence call and a second unique index. The natural key was already
unique; it becomes the primary key. Erasing a contact deletes its step runs explicitly.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ["enrollment_id", "step", "attempt"]


def upgrade() -> None:
    with op.batch_alter_table("step_runs", recreate="auto") as batch:
        batch.drop_constraint("fk_step_runs_enrollment_id_enrollments", type_="foreignkey")
        batch.drop_constraint("uq_step_runs_enrollment_id_step_attempt", type_="unique")
        batch.drop_constraint("pk_step_runs", type_="primary")
        batch.drop_column("id")
        batch.create_primary_key("pk_step_runs", KEY)


def downgrade() -> None:
    # Step runs of enrollments that are gone would fail the restored foreign key.
    op.execute(
        "DELETE FROM step_runs WHERE NOT EXISTS "
        "(SELECT 1 FROM enrollments WHERE enrollments.id = step_runs.enrollment_id)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pk_step_runs", "step_runs", type_="primary")
        op.execute("ALTER TABLE step_runs ADD COLUMN id BIGSERIAL")
        op.create_primary_key("pk_step_runs", "step_runs", ["id"])
        op.create_unique_constraint("uq_step_runs_enrollment_id_step_attempt", "step_runs", KEY)
        op.create_foreign_key(
            "fk_step_runs_enrollment_id_enrollments",
            "step_runs",
            "enrollments",
            ["enrollment_id"],
            ["id"],
            ondelete="CASCADE",
        )
        return
    # SQLite: rebuild the table as it was; the rowid numbers the rows again.
    op.create_table(
        "step_runs_previous",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enrollment_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name="fk_step_runs_enrollment_id_enrollments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_step_runs"),
        sa.UniqueConstraint(*KEY, name="uq_step_runs_enrollment_id_step_attempt"),
    )
    op.execute(
        "INSERT INTO step_runs_previous "
        "(enrollment_id, step, attempt, status, result, started_at, finished_at) "
        "SELECT enrollment_id, step, attempt, status, result, started_at, finished_at "
        "FROM step_runs"
    )
    op.drop_table("step_runs")
    op.rename_table("step_runs_previous", "step_runs")
