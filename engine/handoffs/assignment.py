"""Who gets a lead: by territory, account owner, round robin or least load, with a fallback.

Pools are defined in the scoring file (``pools:``): members by email, a method, territories,
out-of-office dates and a fallback. A pool not defined there is the active users whose role
is its name, or every active ``sales`` user. Inactive and away reps are always skipped.

Round robin is race-free: each turn is one ``UPDATE pool_cursors SET turns = turns + 1 …
RETURNING turns``, so two workers assigning at once take consecutive turns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.contacts.service import dialect_insert
from engine.handoffs.pools import available, present, territory_for, turn
from engine.scoring.config import active_scoring
from engine.scoring.spec import Pool
from engine.store.models import Contact, Handoff, PoolCursor, User
from engine.store.models.base import table_of

#: Handoffs counted per person when balancing a pool.
RECENT = timedelta(days=30)
POOLED = ("round_robin", "least_loaded", "territory")
SALES_ROLE = "sales"
#: How deep territory and fallback pools may point at other pools.
MAX_HOPS = 3


@dataclass(frozen=True, slots=True)
class Choice:
    """The user picked (None: nobody) and how, for the handoff's ``reason``."""

    user_id: int | None
    reason: str


def choose_assignee(
    session: Session,
    *,
    strategy: str | None,
    pool: str | None,
    fallback: Mapping[str, str],
    contact: Contact,
    now: datetime,
) -> Choice:
    """Pick the lead's owner by ``strategy`` (else the pool's method), else by ``fallback``."""
    spec = active_scoring(session)
    return _Chooser(session, spec.pools if spec else {}, contact, now).choose(
        strategy, pool, fallback, hops=0
    )


class _Chooser:
    def __init__(
        self, session: Session, pools: Mapping[str, Pool], contact: Contact, now: datetime
    ) -> None:
        self.session, self.pools, self.contact, self.now = session, pools, contact, now

    def choose(
        self, strategy: str | None, pool: str | None, fallback: Mapping[str, str], *, hops: int
    ) -> Choice:
        configured = self.pools.get(pool) if pool else None
        method = strategy or (configured.method if configured else "round_robin")
        picked = self._by_method(method, pool, configured, hops)
        if picked is not None:
            return picked
        fallback = fallback or (
            {str(k): v for k, v in configured.fallback.items()} if configured else {}
        )
        if "user" in fallback:
            found = self._users([fallback["user"]])
            if found:
                return Choice(found[0], f"fallback user {fallback['user']}")
        elif "pool" in fallback and hops < MAX_HOPS:
            chosen = self.choose(None, fallback["pool"], {}, hops=hops + 1)
            if chosen.user_id is not None:
                return Choice(chosen.user_id, f"fallback pool {fallback['pool']}: {chosen.reason}")
        elif "role" in fallback:
            user_id = least_loaded(
                self.session, _with_role(self.session, fallback["role"]), now=self.now
            )
            if user_id is not None:
                return Choice(user_id, f"fallback role {fallback['role']}")
        return Choice(None, f"nobody available ({method}, fallback {dict(fallback) or 'none'})")

    def _by_method(
        self, method: str, pool: str | None, configured: Pool | None, hops: int
    ) -> Choice | None:
        if method == "account_owner" and self.contact.owner_id is not None:
            owner = self._present_ids([self.contact.owner_id])
            if owner:
                return Choice(owner[0], "account owner")
        if method == "territory" and configured is not None:
            territory = territory_for(configured.territories, self.contact.attributes or {})
            if territory is not None and territory.member is not None:
                found = self._users([territory.member])
                if found:
                    return Choice(found[0], f"territory of {territory.member}")
            elif territory is not None and territory.pool is not None and hops < MAX_HOPS:
                chosen = self.choose("round_robin", territory.pool, {}, hops=hops + 1)
                if chosen.user_id is not None:
                    return Choice(
                        chosen.user_id, f"territory pool {territory.pool}: {chosen.reason}"
                    )
        if method not in POOLED:
            return None
        members = self._members(pool, configured)
        name = pool or SALES_ROLE
        if method == "least_loaded":
            user_id = least_loaded(self.session, members, now=self.now)
        else:
            user_id = turn(members, next_turn(self.session, name)) if members else None
        label = "round_robin" if method == "territory" else method
        return Choice(user_id, f"{label} in pool {name}") if user_id is not None else None

    def _members(self, pool: str | None, configured: Pool | None) -> list[int]:
        if configured is not None:
            return self._users(configured.members, away=configured)
        return pool_members(self.session, pool)

    def _users(self, emails: Sequence[str], away: Pool | None = None) -> list[int]:
        """Active users among ``emails`` (and not away), ordered by id for a stable rotation."""
        wanted = [e.strip().lower() for e in emails]
        if away is not None:
            wanted = present(wanted, {k.lower(): v for k, v in away.away.items()}, self.now.date())
        return list(
            self.session.scalars(
                select(User.id)
                .where(User.email.in_(wanted), User.is_active.is_(True))
                .order_by(User.id)
            )
        )

    def _present_ids(self, user_ids: Sequence[int]) -> list[int]:
        rows = self.session.execute(
            select(User.id, User.email).where(User.id.in_(user_ids), User.is_active.is_(True))
        ).all()
        away = {k.lower(): v for p in self.pools.values() for k, v in p.away.items()}
        return [i for i, email in rows if available(email, away, self.now.date())]


def next_turn(session: Session, pool: str) -> int:
    """Take the pool's next round-robin turn (1, 2, 3 …); the row lock serialises takers."""
    session.execute(
        dialect_insert(session, PoolCursor)
        .values(pool=pool, turns=0)
        .on_conflict_do_nothing(index_elements=["pool"])
    )
    table = table_of(PoolCursor)
    taken = session.scalar(
        update(table)
        .where(table.c.pool == pool)
        .values(turns=table.c.turns + 1)
        .returning(table.c.turns)
    )
    return int(taken or 1)


def pool_members(session: Session, pool: str | None) -> list[int]:
    """Return the active users of an unconfigured ``pool``: its role's users, or every sales user."""
    if pool:
        members = _with_role(session, pool)
        if members:
            return members
    return _with_role(session, SALES_ROLE)


def least_loaded(session: Session, user_ids: Sequence[int], *, now: datetime) -> int | None:
    """Return the user with the fewest handoffs lately; ties go to the longest without one."""
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
