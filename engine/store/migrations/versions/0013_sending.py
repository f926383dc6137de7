"""Sending state: per-domain pauses and rate limits.

No schema change: rate buckets and domain pauses are short-lived and live in Redis (or in
the one embedded process's memory), see engine/email/ratelimit.py.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
