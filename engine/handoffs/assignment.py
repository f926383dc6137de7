"""Who gets a lead: the contact's owner, or the least-loaded active member of a pool.

Sales pools are not modelled yet: a pool is the active users whose role is the pool's name,
or, when nobody has that role, every active ``sales`` user. ``territory`` picks within the
pool like ``round_robin`` until territories exist. Inactive users are always skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.models import Contact, Handoff, User

#: Handoffs counted per person when balancing a pool.
RECENT = timedelta(days=30)
POOLED = ("round_robin", "least_loaded", "territory")
SALES_ROLE = "sales"


@dataclass(frozen=True, slots=True)
class Choice:
    """The user picked (None: nobody) and how, for the handoff's ``reason``."""

    user_id: int | None
    reason: str


def choose_assignee(
    session: Session,
    *,
    strategy: str,
    pool: str | None,
    fallback: Mapping[str, str],
    contact: Contact,
    now: datetime,
) -> Choice:
    """Pick the lead's owner by ``strategy``, else by ``fallback`` (a user, pool or role)."""
    if strategy == "account_owner" and contact.owner_id is not None:
        owner = _active(session, [contact.owner_id])
        if owner:
            return Choice(owner[0], "account owner")
    if strategy in POOLED:
        picked = least_loaded(session, pool_members(session, pool), now=now)
        if picked is not None:
            return Choice(picked, f"{strategy} in pool {pool or SALES_ROLE}")
    if "user" in fallback:
        found = session.scalar(
            select(User.id).where(
                User.email == fallback["user"].strip().lower(), User.is_active.is_(True)
            )
        )
        if found is not None:
            return Choice(found, f"fallback user {fallback['user']}")
    elif "pool" in fallback or "role" in fallback:
        name = fallback.get("pool") or fallback["role"]
        members = pool_members(session, name) if "pool" in fallback else _with_role(session, name)
        picked = least_loaded(session, members, now=now)
        if picked is not None:
            return Choice(picked, f"fallback {'pool' if 'pool' in fallback else 'role'} {name}")
    return Choice(None, f"nobody available ({strategy}, fallback {dict(fallback) or 'none'})")


def pool_members(session: Session, pool: str | None) -> list[int]:
    """Return the active users of ``pool``: its role's users, or every sales user."""
    if pool:
        members = _with_role(session, pool)
        if members:
            return members
    return _with_role(session, SALES_ROLE)


def least_loaded(session: Session, user_ids: Sequence[int], *, now: datetime) -> int | None:
    """Return the user with the fewest handoffs lately; ties go to the longest without one.

    Counting recent handoffs rather than keeping a pointer makes the rotation survive
    restarts and users joining or leaving the pool, and it balances as ``round_robin`` does.
    """
    if not user_ids:
        return None
    load = {
        user_id: (count, last)
        for user_id, count, last in session.execute(
            select(Handoff.assignee_id, func.count(), func.max(Handoff.created_at))
            .where(Handoff.assignee_id.in_(user_ids), Handoff.created_at >= now - RECENT)
            .group_by(Handoff.assignee_id)
        )
    }
    never = datetime.min.replace(tzinfo=now.tzinfo)

    def key(user_id: int) -> tuple[int, datetime, int]:
        count, last = load.get(user_id, (0, None))
        return count, last or never, user_id

    return min(user_ids, key=key)


def _with_role(session: Session, role: str) -> list[int]:
    return list(
        session.scalars(
            select(User.id).where(User.role == role, User.is_active.is_(True)).order_by(User.id)
        )
    )


def _active(session: Session, user_ids: Sequence[int]) -> list[int]:
    return list(
        session.scalars(select(User.id).where(User.id.in_(user_ids), User.is_active.is_(True)))
    )
