"""Enrollments leave a third of each page free, so a lease can update a row in place.

Every due enrollment is written twice in a few seconds: the sweep leases it, then a worker
stores its new state. On a full page each write puts the new row version on another page
and adds an entry to all six of the table's indexes. The lease changes no indexed column,
so with room on the page PostgreSQL keeps the new version beside the old one and touches
no index (a heap-only tuple). Measured on 20,000 due enrollments of 300,000, the lease,
the claim and the store together took 15% less of the database's time at a fill factor
of 70. Only pages written from now on keep the room; SQLite has no such setting.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE enrollments SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE enrollments RESET (fillfactor)")
