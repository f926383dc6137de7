"""Compile a condition once into a SQL boolean over ``contacts``, for counts and previews.

The result answers, for every contact at once, what ``compile_condition(cond)(view,
now)`` answers for one contact whose ``ContactView`` is built from the same rows:

- ``attributes`` is the ``contacts.attributes`` document with the columns in
  ``CONTACT_FIELDS`` laid over it (a column always wins over a JSON key of the
  same name); ``attr`` paths are read there, ``{ref: contact.…}`` too.
- ``tags`` are ``contact_tags``; ``subscriptions`` the topics whose
  ``subscriptions.subscribed`` is true; ``segments`` are ``segment_memberships``.
- ``scores``: ``default`` is ``contacts.score``; another model is the
  ``score_after`` of its newest ``score_changes`` row (0 when there is none).
- ``events`` are the contact's ``events`` (``type`` is the name).
- ``emails``: ``sent`` and ``bounced`` are ``messages`` with ``sent_at`` or
  ``bounced_at``; ``opened``, ``clicked`` and ``unsubscribed`` are
  ``tracking_events`` of kind ``open``, ``click`` and ``unsubscribe`` joined to
  their message (for its step and template); ``human`` is ``classification = 'human'``.

``entry`` leaves and refs, ``since: entry`` and ``prop`` outside an event's
``where`` raise ``UnsupportedInSql``: they need one enrollment or one event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, exists, false, func, literal, select

from engine.journey.conditions import (
    AllOf,
    AnyOf,
    AttrLeaf,
    Condition,
    EmailLeaf,
    EntryLeaf,
    EventLeaf,
    ListLeaf,
    NotOf,
    Operators,
    PropLeaf,
    Ref,
    RfmLeaf,
    ScoreLeaf,
    SegmentLeaf,
    SubscribedLeaf,
    TagLeaf,
)
from engine.segments.compare import ORDER, TIME
from engine.segments.compare import Operators as SqlOperators
from engine.segments.errors import UnsupportedInSql
from engine.segments.values import (
    Bool,
    ColumnKind,
    ColumnValue,
    Dialect,
    ListValue,
    LiteralValue,
    NumberValue,
    SqlValue,
    all_of,
    any_of,
    json_lookup,
    known,
    negate,
)
from engine.store.models import (
    Contact,
    ContactList,
    ContactTag,
    Event,
    ListMember,
    Message,
    RfmScore,
    ScoreChange,
    SegmentMembership,
    Subscription,
    TrackingEvent,
)

CONTACT_FIELDS: Mapping[str, ColumnKind] = {
    "email": "text",
    "first_name": "text",
    "last_name": "text",
    "timezone": "text",
    "locale": "text",
    "lifecycle_stage": "text",
    "grade": "text",
    "score": "number",
    "owner_id": "number",
    "created_at": "datetime",
    "updated_at": "datetime",
    "last_seen_at": "datetime",
}
"""Contact columns a condition reads as attributes, with how each compares."""

TRACKING_KINDS: Mapping[str, str] = {
    "opened": "open",
    "clicked": "click",
    "unsubscribed": "unsubscribe",
}
"""The ``tracking_events.kind`` behind each tracked email activity."""

_HUMAN_ONLY = frozenset({"opened", "clicked"})
_Path = tuple[str | int, ...]


def condition_sql(condition: Condition, *, now: datetime, dialect: str) -> ColumnElement[bool]:
    """Compile ``condition`` into a boolean over ``contacts`` for ``now`` (naive means UTC).

    ``dialect`` is ``sqlite`` or ``postgresql``. Raises ``UnsupportedInSql`` naming
    where the condition uses something only one enrollment or event can answer.
    """
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"no SQL compiler for dialect {dialect!r}")
    moment = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    compiler = _Compiler("sqlite" if dialect == "sqlite" else "postgresql", moment)
    return compiler.condition(condition, (), None)


class _Compiler:
    def __init__(self, dialect: Dialect, now: datetime) -> None:
        self.dialect = dialect
        self.now = now
        self.ops = SqlOperators(dialect)
        self.contacts = Contact.__table__

    def condition(self, condition: Condition, path: _Path, event: FromClause | None) -> Bool:
        if isinstance(condition, AllOf):
            return all_of(
                *(self.condition(c, (*path, "all", i), event) for i, c in enumerate(condition.all))
            )
        if isinstance(condition, AnyOf):
            return any_of(
                *(self.condition(c, (*path, "any", i), event) for i, c in enumerate(condition.any))
            )
        if isinstance(condition, NotOf):
            return negate(self.condition(condition.not_, (*path, "not"), event))
        if isinstance(condition, AttrLeaf):
            return self.value_test(self.contact_value(condition.attr), condition, path)
        if isinstance(condition, PropLeaf):
            if event is None:
                raise _unsupported(
                    path, "'prop' reads the event being matched; use it in an event's 'where'"
                )
            value = json_lookup(event.c.properties, condition.prop, self.dialect)
            return self.value_test(value, condition, path)
        if isinstance(condition, EntryLeaf):
            raise _unsupported(
                path, f"'entry: {condition.entry}' reads one enrollment's entry event"
            )
        if isinstance(condition, EventLeaf):
            return self.event(condition, path)
        if isinstance(condition, EmailLeaf):
            return self.email(condition)
        if isinstance(condition, SegmentLeaf):
            return self.related(
                SegmentMembership.__table__, SegmentMembership.segment_id == condition.segment
            )
        if isinstance(condition, TagLeaf):
            return self.related(ContactTag.__table__, ContactTag.tag == condition.tag_)
        if isinstance(condition, SubscribedLeaf):
            return self.related(
                Subscription.__table__,
                Subscription.topic == condition.subscribed,
                Subscription.subscribed.is_(True),
            )
        if isinstance(condition, ScoreLeaf):
            return self.value_test(self.score(condition.model), condition.score, (*path, "score"))
        if isinstance(condition, RfmLeaf):
            return self.related(RfmScore.__table__, RfmScore.rfm_class.in_(condition.rfm))
        if isinstance(condition, ListLeaf):
            keyed = select(ContactList.id).where(ContactList.key == condition.list_)
            return self.related(
                ListMember.__table__, ListMember.list_id.in_(keyed.scalar_subquery())
            )
        raise TypeError(f"not a condition: {condition!r}")  # pragma: no cover

    def contact_value(self, path: str) -> SqlValue:
        """Return the contact attribute at ``path``: a column, or the JSON document."""
        head = path.split(".")[0]
        document = self.contacts.c.attributes
        if path in CONTACT_FIELDS:
            return ColumnValue(self.contacts.c[path], CONTACT_FIELDS[path], self.dialect)
        # Walking into a column finds a scalar, never a key: only a literal dotted key matches.
        return json_lookup(document, path, self.dialect, walk=head not in CONTACT_FIELDS)

    def related(self, table: Any, *criteria: ColumnElement[bool]) -> Bool:
        return exists(
            select(literal(1))
            .select_from(table)
            .where(table.c.contact_id == self.contacts.c.id, *criteria)
            .correlate_except(table)
        )

    def score(self, model: str) -> SqlValue:
        if model == "default":
            return NumberValue(self.contacts.c.score)
        newest = (
            select(ScoreChange.score_after)
            .where(ScoreChange.contact_id == self.contacts.c.id, ScoreChange.model == model)
            .order_by(ScoreChange.occurred_at.desc(), ScoreChange.id.desc())
            .limit(1)
            .correlate_except(ScoreChange.__table__)
            .scalar_subquery()
        )
        return NumberValue(func.coalesce(newest, 0))

    def event(self, leaf: EventLeaf, path: _Path) -> Bool:
        if leaf.since is not None:
            raise _unsupported((*path, "since"), "'since: entry' needs one enrollment's entry time")
        events = Event.__table__.alias()
        criteria = [
            events.c.contact_id == self.contacts.c.id,
            events.c.type == leaf.event,
            events.c.occurred_at <= self.now,
        ]
        if leaf.within is not None:
            criteria.append(events.c.occurred_at >= self.now - leaf.within)
        if leaf.where is not None:
            criteria.append(self.condition(leaf.where, (*path, "where"), events))
        if leaf.count is None:
            return exists(
                select(literal(1)).select_from(events).where(*criteria).correlate_except(events)
            )
        count = (
            select(func.count())
            .select_from(events)
            .where(*criteria)
            .correlate_except(events)
            .scalar_subquery()
        )
        return self.value_test(NumberValue(count), leaf.count, (*path, "count"))

    def email(self, leaf: EmailLeaf) -> Bool:
        messages = Message.__table__.alias()
        tracked: list[FromClause] = []
        criteria: list[ColumnElement[bool]] = []
        if leaf.step_names:
            criteria.append(messages.c.step_id.in_(leaf.step_names))
        if leaf.template is not None:
            criteria.append(messages.c.template == leaf.template)
        if leaf.email in TRACKING_KINDS:
            tracking = TrackingEvent.__table__.alias()
            tracked.append(tracking)
            at = tracking.c.occurred_at
            source: Any = tracking.join(messages, tracking.c.message_id == messages.c.id)
            criteria += [
                tracking.c.contact_id == self.contacts.c.id,
                tracking.c.kind == TRACKING_KINDS[leaf.email],
            ]
            if leaf.human and leaf.email in _HUMAN_ONLY:
                criteria.append(tracking.c.classification == "human")
        else:
            at = messages.c.sent_at if leaf.email == "sent" else messages.c.bounced_at
            source = messages
            criteria += [messages.c.contact_id == self.contacts.c.id, at.is_not(None)]
        criteria.append(at <= self.now)
        if leaf.within is not None:
            criteria.append(at >= self.now - leaf.within)
        # Correlate explicitly: inside an event's `where` the enclosing SELECT is over events.
        query = select(literal(1)).select_from(source).where(*criteria)
        return exists(query.correlate_except(messages, *tracked))

    def value_test(self, value: SqlValue, leaf: Operators, path: _Path) -> Bool:
        """Return the leaf's operator applied to ``value``; never null, so ``not`` is safe."""
        name, operand = leaf.operator
        if name == "exists":
            return value.present if operand else negate(value.present)
        if name in ("within_last", "within_next"):
            test = self.ops.window(value, operand, self.now, past=name == "within_last")
            return _definite(all_of(value.present, test))
        target = self.operand(operand, (*path, name))
        test = self.compare(name, value, target)
        return _definite(all_of(value.present, target.present, test))

    def compare(self, name: str, a: SqlValue, b: SqlValue) -> Bool:
        ops = self.ops
        if name == "eq":
            return ops.equal(a, b)
        if name == "ne":
            return negate(_definite(ops.equal(a, b)))
        if name in ("in", "nin"):
            assert isinstance(b, ListValue)
            member = ops.member(a, b)
            return member if name == "in" else negate(_definite(member))
        if name == "between":
            assert isinstance(b, ListValue)
            low, high = b.items
            return all_of(ops.ordered(a, low, ORDER["gte"]), ops.ordered(a, high, ORDER["lte"]))
        if name in ORDER:
            return ops.ordered(a, b, ORDER[name])
        if name in TIME:
            return ops.timed(a, b, TIME[name])
        if name == "contains":
            return ops.contains(a, b)
        if name == "starts_with":
            return ops.starts_with(a, b)
        raise TypeError(f"unknown operator {name!r}")  # pragma: no cover

    def operand(self, operand: Any, path: _Path) -> SqlValue:
        if isinstance(operand, Ref):
            if operand.scope == "entry":
                raise _unsupported(path, f"'{operand.ref}' reads one enrollment's entry event")
            return self.contact_value(operand.path)
        if isinstance(operand, tuple):
            return ListValue([self.operand(item, (*path, i)) for i, item in enumerate(operand)])
        return LiteralValue(operand)


def _definite(expression: Bool) -> Bool:
    """Turn SQL's unknown into false, as the predicate never answers "unknown"."""
    if known(expression) is not None:
        return expression
    return func.coalesce(expression, false())


def _unsupported(path: _Path, why: str) -> UnsupportedInSql:
    where = ".".join(str(p) for p in path) or "condition"
    return UnsupportedInSql(f"{where}: {why}; it cannot run as a whole-audience SQL query")
