"""Apply what plans decided, as rows written in the enrollment's own transaction.

Internal effects (contact fields, tags, score) are written here; external ones (mail,
webhooks, handoff notices) become rows plus an outbox entry in the same transaction, so a
crash either keeps both or neither, and the outbox relay hands them on after commit.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from engine.contacts.service import add_tags, contacts_changed, dialect_insert, remove_tags
from engine.journey import ContactView
from engine.journey.actions import (
    Action,
    AdjustScore,
    CallWebhook,
    Exit,
    Handoff,
    Notify,
    ReachGoal,
    SendEmail,
    Tag,
    UpdateContact,
    action_to_json,
    apply_action,
)
from engine.runtime.topics import CALL_WEBHOOK, HANDOFF_CREATED, NOTIFY, SEND_EMAIL
from engine.store.bulk import insert_rows, update_by_id
from engine.store.models import (
    Contact,
    Message,
    OutboxMessage,
    ScoreChange,
    StageChange,
    StepRun,
)
from engine.store.models import Handoff as HandoffRow
from engine.store.models.base import table_of

#: The columns of a score change, for the bulk insert.
SCORE_CHANGE_KINDS = {
    "contact_id": "bigint",
    "model": "text",
    "delta": "int",
    "score_after": "int",
    "reason": "text",
    "rule": "text",
    "occurred_at": "timestamptz",
}
#: Contact fields a journey may set as columns; every other path is an attribute.
COLUMN_FIELDS = frozenset({"first_name", "last_name", "timezone", "locale", "lifecycle_stage"})


class EnrollmentRef(Protocol):
    """What effects need to know of an enrollment: whose it is."""

    @property
    def id(self) -> int: ...

    @property
    def contact_id(self) -> int: ...


@dataclass
class Effects:
    """The effects of one batch of plans, gathered by kind and written in a few statements."""

    session: Session
    now: datetime
    message_domain: str
    contacts: dict[int, ContactView] = field(default_factory=dict)
    _patches: dict[int, dict[str, Any]] = field(default_factory=lambda: defaultdict(dict))
    _columns: dict[int, dict[str, Any]] = field(default_factory=lambda: defaultdict(dict))
    _stage_changes: list[dict[str, Any]] = field(default_factory=list)
    _tags_added: set[tuple[int, str]] = field(default_factory=set)
    _tags_removed: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    _scores: list[dict[str, Any]] = field(default_factory=list)
    _score_totals: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    _messages: list[dict[str, Any]] = field(default_factory=list)
    _handoffs: list[dict[str, Any]] = field(default_factory=list)
    _outbox: list[dict[str, Any]] = field(default_factory=list)
    _step_runs: list[dict[str, Any]] = field(default_factory=list)

    def record(
        self,
        enrollment: EnrollmentRef,
        view: ContactView,
        actions: tuple[Action, ...],
        journey: str,
        vetoed: Mapping[str, str] | None = None,
    ) -> None:
        """Gather the effects of one enrollment's actions, in the order the plan gave them.

        ``vetoed`` sends (by idempotency key, with the reason) are kept as ``skipped``
        messages, so "why didn't this contact get that email?" has an answer.
        """
        contact_id = enrollment.contact_id
        current = self.contacts.get(contact_id, view)
        for action in actions:
            if isinstance(action, UpdateContact):
                current = self._update_contact(contact_id, current, action)
            elif isinstance(action, Tag):
                self._tags_added.update((contact_id, t) for t in action.add)
                self._tags_removed[contact_id].update(action.remove)
                current = apply_action(current, action, self.now)
            elif isinstance(action, AdjustScore):
                self._adjust_score(contact_id, current, action)
                current = apply_action(current, action, self.now)
            elif isinstance(action, SendEmail):
                skipped = (vetoed or {}).get(action.idempotency_key)
                self._send(enrollment, current, action, journey, skipped)
            elif isinstance(action, Handoff):
                self._handoffs.append(
                    {
                        "contact_id": contact_id,
                        "enrollment_id": enrollment.id,
                        "pool": action.pool,
                        "status": "pending",
                        "brief": action_to_json(action),
                        "created_at": self.now,
                    }
                )
            elif isinstance(action, CallWebhook | Notify):
                topic = CALL_WEBHOOK if isinstance(action, CallWebhook) else NOTIFY
                self._queue(topic, {"enrollment_id": enrollment.id, **action_to_json(action)})
            elif isinstance(action, ReachGoal):
                self._step_runs.append(self._run(enrollment.id, f"goal:{action.goal_id}", 1))
            elif isinstance(action, Exit):
                pass  # the state the plan returns says so
        self.contacts[contact_id] = current

    def visited(self, enrollment_id: int, before: dict[str, int], after: dict[str, int]) -> None:
        """Record each step entered in this plan, for per-step accounting and idempotency."""
        for step, attempt in after.items():
            for n in range(before.get(step, 0) + 1, attempt + 1):
                self._step_runs.append(self._run(enrollment_id, step, n))

    def flush(self) -> list[int]:
        """Write everything gathered; return the new outbox ids to dispatch after commit."""
        session = self.session
        # ``updated_at`` is set in the statement that changes a contact: one new row version.
        update_by_id(
            session,
            table_of(Contact),
            [{"id": c, "attributes": patch} for c, patch in self._patches.items()],
            {"attributes": "jsonb"},
            constants={"updated_at": self.now},
            merged=frozenset({"attributes"}),
        )
        for contact_id, columns in self._columns.items():
            session.execute(
                update(Contact)
                .where(Contact.id == contact_id)
                .values(**columns, updated_at=self.now)
            )
        touched = self._patches.keys() | self._columns.keys()
        if self._stage_changes:
            session.execute(insert(table_of(StageChange)), self._stage_changes)
        add_tags(session, self._tags_added, now=self.now, announce=False)
        for contact_id, removed in self._tags_removed.items():
            if removed:
                remove_tags(session, contact_id, removed, now=self.now, announce=False)
        if self._score_totals:
            update_by_id(
                session,
                table_of(Contact),
                [{"id": c, "score": d} for c, d in self._score_totals.items()],
                {"score": "int"},
                added=frozenset({"score"}),
            )
            insert_rows(session, table_of(ScoreChange), self._scores, SCORE_CHANGE_KINDS)
        # One row for every contact whose data moved: segments and live enrollments re-check.
        changed = (
            touched
            | self._score_totals.keys()
            | {c for c, _ in self._tags_added}
            | {c for c, removed in self._tags_removed.items() if removed}
        )
        if changed:
            contacts_changed(session, changed, now=self.now)
        insert_rows(
            session,
            table_of(StepRun),
            self._step_runs,
            {"enrollment_id": "bigint", "step": "text", "attempt": "int"},
            constants={"status": "done", "started_at": self.now, "finished_at": self.now},
            ignore_conflicts=True,
            conflicts_rare=True,  # the batch's claim already keeps a step from running twice
        )
        self._write_messages()
        if self._handoffs:
            stmt = insert(table_of(HandoffRow)).returning(HandoffRow.id)
            for handoff_id in session.scalars(stmt, self._handoffs):
                self._queue(HANDOFF_CREATED, {"handoff_id": handoff_id})
        if not self._outbox:
            return []
        stmt = insert(table_of(OutboxMessage)).returning(
            OutboxMessage.id, sort_by_parameter_order=True
        )
        return list(session.scalars(stmt, self._outbox))

    def _update_contact(
        self, contact_id: int, current: ContactView, action: UpdateContact
    ) -> ContactView:
        after = apply_action(current, action, self.now)
        for path in (*action.set, *action.unset, *action.increment):
            head, *rest = path.split(".")
            value = _get(after.attributes, path)
            if not rest and head in COLUMN_FIELDS:
                if head == "lifecycle_stage" and value != current.attributes.get(head):
                    self._stage_changes.append(
                        {
                            "contact_id": contact_id,
                            "from_stage": current.attributes.get(head),
                            "to_stage": value,
                            "reason": f"journey step {action.step}",
                            "occurred_at": self.now,
                        }
                    )
                self._columns[contact_id][head] = value
            else:  # None removes the key: merge-patch semantics
                _put(self._patches[contact_id], path, value)
        return after

    def _adjust_score(self, contact_id: int, current: ContactView, action: AdjustScore) -> None:
        before = current.scores.get(action.model, 0)
        if action.model == "default":
            self._score_totals[contact_id] += action.delta
        self._scores.append(
            {
                "contact_id": contact_id,
                "model": action.model,
                "delta": action.delta,
                "score_after": int(before) + action.delta,
                "reason": action.reason or f"journey step {action.step}",
                "rule": action.step,
                "occurred_at": self.now,
            }
        )

    def _send(
        self,
        enrollment: EnrollmentRef,
        current: ContactView,
        action: SendEmail,
        journey: str,
        skipped: str | None,
    ) -> None:
        uid = secrets.token_urlsafe(16)
        self._messages.append(
            {
                "uid": uid,
                "message_id": f"<{uid}@{self.message_domain}>",
                "idempotency_key": action.idempotency_key,
                "contact_id": enrollment.contact_id,
                "to_address": current.attributes.get("email"),
                "enrollment_id": enrollment.id,
                "journey_id": journey,
                "step_id": action.step,
                "template": action.template,
                "variant": action.variant,
                "topic": action.topic,
                "subject": action.subject,
                "status": "skipped" if skipped else "queued",
                "error": skipped,
                "attempts": 0,
                "queued_at": self.now,
            }
        )

    def _write_messages(self) -> None:
        if not self._messages:
            return
        stmt = (
            dialect_insert(self.session, Message)
            .on_conflict_do_nothing(index_elements=[Message.idempotency_key])
            .returning(Message.id, Message.status)
        )
        for message_id, status in self.session.execute(stmt, self._messages):
            if status == "queued":
                self._queue(SEND_EMAIL, {"message_id": message_id})

    def _queue(self, topic: str, payload: dict[str, Any]) -> None:
        self._outbox.append(
            {
                "topic": topic,
                "payload": payload,
                "created_at": self.now,
                "available_at": self.now,
                "attempts": 0,
            }
        )

    def _run(self, enrollment_id: int, step: str, attempt: int) -> dict[str, Any]:
        return {"enrollment_id": enrollment_id, "step": step, "attempt": attempt}


def _get(document: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document


def _put(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        document = document.setdefault(key, {})
    document[last] = value
