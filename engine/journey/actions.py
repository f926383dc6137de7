"""What the planner asks the world to do, and what each step decides.

Actions are small frozen records the executor applies in order (send, update,
tag, score, call, hand off, notify, reach a goal, exit). Every effect carries an
idempotency key ``enrollment:step:attempt`` so a retried apply happens once.
``Advance``/``Hold``/``Finish`` are a step's decision; ``Note`` is one line of
the trace that explains a plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from engine.journey.contact_view import ContactView, EmailRecord
from engine.journey.frozen import evolve
from engine.journey.state import WaitingOn


@dataclass(frozen=True, slots=True)
class Address:
    """A sender or recipient: ``Acme Team <hello@acme.io>``."""

    email: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class CapPolicy:
    """The journey's ``frequency_cap``, attached to a send for the runtime middleware.

    The planner cannot decide the cap (it counts sends across journeys); the
    middleware counts sends in ``scope`` over ``per`` and, over ``max``, defers
    (``Plan.defer``) or skips the send as ``on_limit`` says.
    """

    max: int
    per: timedelta
    scope: str
    on_limit: Literal["defer", "skip"]


@dataclass(frozen=True, slots=True)
class SendEmail:
    """Send ``template`` to the contact (subject and template already resolved for the variant)."""

    step: str
    template: str
    subject: str
    variant: str | None
    from_: Address | None
    reply_to: str | None
    topic: str | None
    idempotency_key: str
    frequency_cap: CapPolicy | None = None


@dataclass(frozen=True, slots=True)
class UpdateContact:
    """Set, unset and increment contact attributes (``{ref: …}`` values already resolved)."""

    step: str
    set: Mapping[str, Any]
    unset: tuple[str, ...]
    increment: Mapping[str, float]
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class Tag:
    """Add and remove tags."""

    step: str
    add: tuple[str, ...]
    remove: tuple[str, ...]
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class AdjustScore:
    """Add ``delta`` (may be negative) to the contact's score in ``model``."""

    step: str
    delta: int
    model: str
    reason: str | None
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class CallWebhook:
    """Call an allowlisted URL; on final failure the executor routes to ``on_failure``.

    ``key_template`` is the journey's own ``idempotency_key`` text (rendered by the
    worker into a header); ``idempotency_key`` is the enrollment's.
    """

    step: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: Any
    timeout: timedelta
    idempotency_key: str
    key_template: str | None = None
    on_failure: str | None = None


@dataclass(frozen=True, slots=True)
class Handoff:
    """Assign an owner (with a fallback), optionally create a CRM record and a task, notify."""

    step: str
    strategy: str
    pool: str | None
    skip_unavailable: bool
    fallback: Mapping[str, str]
    crm: Mapping[str, Any] | None
    task_title: str | None
    task_due: datetime | None
    notify: Mapping[str, Any] | None
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell a colleague (``to`` is one of user, owner_of or role)."""

    step: str
    to: Mapping[str, str]
    channel: str
    message: str | None
    template: str | None
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class ReachGoal:
    """Record that the enrollment reached a declared goal (once per enrollment)."""

    goal_id: str
    step: str | None
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class Exit:
    """End the enrollment: an exit step's reason, ``exit_when``, ``goal:<id>``, ``step_limit``."""

    reason: str
    step: str | None


Action = (
    SendEmail
    | UpdateContact
    | Tag
    | AdjustScore
    | CallWebhook
    | Handoff
    | Notify
    | ReachGoal
    | Exit
)
"""Any action a plan may ask for."""


@dataclass(frozen=True, slots=True)
class Note:
    """One decision and why: ``(at, step, what, why)``; the trace of a plan is a list of these.

    ``what`` is a short machine word (``branch``, ``send``, ``defer``, ``skip``,
    ``wait``, ``exit_when``, ``goal``…); ``why`` is a sentence for people.
    """

    at: datetime
    step: str | None
    what: str
    why: str


Why = str | Callable[[], str]
"""A decision's reason: a sentence, or a function that writes it when a trace is kept.

Writing the sentence (a local time, a duration) cost a worker more than the decision did,
and a worker keeps no trace, so a step whose reason takes work passes the function."""


def explain(why: Why) -> str:
    """Return the sentence ``why`` stands for."""
    return why if isinstance(why, str) else why()


@dataclass(frozen=True, slots=True)
class Advance:
    """The step is done: go to ``next`` after applying ``actions``.

    ``assign`` records a split path or an email variant chosen at this step.
    """

    next: str
    actions: tuple[Action, ...] = ()
    why: Why = ""
    what: str = "step"
    assign: str | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """The step holds the contact until ``wake_at`` (None: no timer) and/or an event."""

    wake_at: datetime | None
    why: Why
    what: str = "wait"
    waiting_on: WaitingOn | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """The step ends the enrollment."""

    reason: str
    why: Why = ""


Decision = Advance | Hold | Finish
"""What a step's ``plan`` returns."""


@dataclass(frozen=True, slots=True)
class SendTiming:
    """When a send may leave: ``now``, ``defer`` to ``at``, or ``skip`` (with the reason)."""

    kind: Literal["now", "defer", "skip"]
    at: datetime | None = None
    why: str = ""


def action_to_json(action: Action) -> dict[str, Any]:
    """Return a JSON-ready dict with ``kind`` (the class name) and every field."""
    body = {f.name.rstrip("_"): _json(getattr(action, f.name)) for f in dataclasses.fields(action)}
    return {"kind": type(action).__name__, **body}


def apply_action(contact: ContactView, action: Action, at: datetime) -> ContactView:
    """Return the contact as it will look once ``action`` is applied (sends add a ``sent``)."""
    if isinstance(action, UpdateContact):
        attributes = _nested_copy(contact.attributes)
        for path, value in action.set.items():
            _put(attributes, path, value)
        for path in action.unset:
            _drop(attributes, path)
        for path, amount in action.increment.items():
            current = _get(attributes, path)
            number = current if isinstance(current, int | float) else 0
            _put(attributes, path, number + amount)
        return evolve(contact, attributes=attributes)
    if isinstance(action, Tag):
        tags = (contact.tags | frozenset(action.add)) - frozenset(action.remove)
        return evolve(contact, tags=tags)
    if isinstance(action, AdjustScore):
        scores = {**contact.scores}
        scores[action.model] = scores.get(action.model, 0) + action.delta
        return evolve(contact, scores=scores)
    if isinstance(action, SendEmail):
        record = EmailRecord("sent", at, step=action.step, template=action.template)
        return evolve(contact, emails=(*contact.emails, record))
    return contact


def _json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name.rstrip("_"): _json(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [_json(v) for v in value]
    return value


def _nested_copy(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _nested_copy(v) if isinstance(v, Mapping) else v for k, v in document.items()}


def _get(document: Mapping[str, Any], path: str) -> Any:
    if path in document:
        return document[path]
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _put(document: dict[str, Any], path: str, value: Any) -> None:
    if path in document or "." not in path:
        document[path] = value
        return
    *parents, last = path.split(".")
    node = document
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def _drop(document: dict[str, Any], path: str) -> None:
    if path in document:
        del document[path]
        return
    *parents, last = path.split(".")
    node: Any = document
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(last, None)
