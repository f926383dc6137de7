"""Webhook deliveries in the database: record, lease, finish, list and re-arm.

A delivery is recorded once per ``webhook_id`` (insert-or-ignore), so a redelivered outbox
message adds nothing. An attempt first leases its row by moving ``next_attempt_at`` past
the call's end and counting the attempt, in a transaction of its own; the HTTP call runs
outside any transaction; its outcome is written only if the lease is still the one taken
(same attempt number), so two workers or schedulers never send the same attempt twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from engine.contacts.service import dialect_insert
from engine.errors import Conflict, FieldProblem, InvalidInput, NotFound
from engine.journey.reroute import reroute
from engine.journey.state import EnrollmentState
from engine.settings import Settings
from engine.store.db import Database
from engine.store.models import Enrollment, Handoff, Notification, StepRun, WebhookDelivery
from engine.store.models.base import table_of
from engine.webhooks.delivery import (
    MAX_ATTEMPTS,
    MAX_TIMEOUT,
    Attempt,
    Outcome,
    attempt,
    retry_delay,
)
from engine.webhooks.signing import webhook_key

log = logging.getLogger(__name__)

#: How long a leased delivery is left to its worker: longer than any call may take.
LEASE = MAX_TIMEOUT * 4
#: Deliveries leased per statement by the retry sweep.
RETRY_BATCH = 100
KINDS = ("journey", "crm", "notify")
STATUSES = ("pending", "delivered", "dead")


@dataclass(frozen=True, slots=True)
class DeliveryOut:
    """A delivery as the API and CLI show it."""

    id: int
    webhook_id: str
    kind: str
    method: str
    url: str
    status: str
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    contact_id: int | None
    enrollment_id: int | None
    handoff_id: int | None
    step_id: str | None
    created_at: datetime
    delivered_at: datetime | None


def journey_webhook_id(idempotency_key: str) -> str:
    """Return the ``webhook-id`` of a journey call: the same for every send of the same step run."""
    return "msg_" + hashlib.sha256(f"journey:{idempotency_key}".encode()).hexdigest()[:40]


def encode_body(body: Any) -> tuple[str | None, str | None]:
    """Return the body as sent and its content type: text as is, anything else as JSON."""
    if body is None:
        return None, None
    if isinstance(body, str):
        return body, "text/plain; charset=utf-8"
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")), "application/json"


def queue_delivery(
    session: Session,
    *,
    webhook_id: str,
    kind: str,
    url: str,
    body: str | None,
    headers: Mapping[str, str],
    now: datetime,
    method: str = "POST",
    contact_id: int | None = None,
    enrollment_id: int | None = None,
    handoff_id: int | None = None,
    step_id: str | None = None,
    on_failure: str | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> int:
    """Record a delivery due now, unless one with ``webhook_id`` exists; return its id."""
    row = {
        "webhook_id": webhook_id,
        "kind": kind,
        "method": method,
        "url": url,
        "headers": dict(headers),
        "body": body,
        "status": "pending",
        "attempts": 0,
        "max_attempts": max_attempts,
        "next_attempt_at": now,
        "contact_id": contact_id,
        "enrollment_id": enrollment_id,
        "handoff_id": handoff_id,
        "step_id": step_id,
        "on_failure": on_failure,
        "created_at": now,
    }
    session.execute(
        dialect_insert(session, WebhookDelivery).on_conflict_do_nothing(
            index_elements=[WebhookDelivery.webhook_id]
        ),
        [row],
    )
    found = session.scalar(
        select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == webhook_id)
    )
    if found is None:  # pragma: no cover - the row was inserted or already there
        raise NotFound(f"webhook delivery {webhook_id} vanished")
    return found


def record_journey_call(session: Session, payload: Mapping[str, Any], *, now: datetime) -> int:
    """Record the delivery of a ``webhook.call`` outbox row (a ``CallWebhook`` as JSON)."""
    key = str(payload["idempotency_key"])
    body, content_type = encode_body(payload.get("body"))
    headers = {str(k): str(v) for k, v in (payload.get("headers") or {}).items()}
    if content_type and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    headers["Idempotency-Key"] = str(payload.get("key_template") or key)
    enrollment_id = payload.get("enrollment_id")
    contact_id = None
    if enrollment_id is not None:
        contact_id = session.scalar(
            select(Enrollment.contact_id).where(Enrollment.id == enrollment_id)
        )
    return queue_delivery(
        session,
        webhook_id=journey_webhook_id(key),
        kind="journey",
        method=str(payload.get("method") or "POST"),
        url=str(payload["url"]),
        headers=headers,
        body=body,
        now=now,
        contact_id=contact_id,
        enrollment_id=enrollment_id,
        step_id=payload.get("step"),
        on_failure=payload.get("on_failure"),
    )


def claim(
    session: Session,
    *,
    now: datetime,
    limit: int = RETRY_BATCH,
    ids: Iterable[int] | None = None,
    timeout: timedelta = MAX_TIMEOUT,
) -> list[Attempt]:
    """Lease up to ``limit`` due pending deliveries (or just ``ids``) and count their attempt."""
    table = table_of(WebhookDelivery)
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if ids is not None:
        query = query.where(WebhookDelivery.id.in_(list(ids)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    if not rows:
        return []
    session.execute(
        update(table)
        .where(table.c.id.in_([r.id for r in rows]))
        .values(next_attempt_at=now + LEASE, attempts=table.c.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return [_attempt(r, r.attempts + 1, timeout) for r in rows]


def leased(session: Session, claims: Iterable[tuple[int, int]]) -> list[Attempt]:
    """Return the attempts among ``(id, number)`` whose lease is still that attempt's."""
    wanted = dict(claims)
    if not wanted:
        return []
    rows = session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.id.in_(wanted), WebhookDelivery.status == "pending"
        )
    )
    return [_attempt(r, r.attempts, MAX_TIMEOUT) for r in rows if r.attempts == wanted[r.id]]


def finish(
    session: Session, sent: Attempt, outcome: Outcome, *, now: datetime, jitter: float
) -> str | None:
    """Write an attempt's outcome; return the delivery's status, or None if the lease was lost.

    A retry past ``max_attempts`` is dead. A dead journey call is recorded on its enrollment
    as a ``webhook_failed:<step>`` step run and, with ``on_failure``, moves a live enrollment
    there at once; a CRM or Slack delivery updates the handoff or notification it carries.
    """
    values: dict[str, Any] = {"last_status": outcome.status, "last_error": outcome.error}
    if outcome.verdict == "delivered":
        values.update(status="delivered", delivered_at=now, next_attempt_at=None)
    elif outcome.verdict == "retry" and sent.number < sent.max_attempts:
        wait = retry_delay(sent.number, jitter=jitter)
        if outcome.retry_after is not None:
            wait = max(wait, outcome.retry_after)
        values.update(status="pending", next_attempt_at=now + wait)
    else:
        if outcome.verdict == "retry":
            values["last_error"] = f"gave up after {sent.number} attempts: {outcome.error}"
        values.update(status="dead", next_attempt_at=None)
    table = table_of(WebhookDelivery)
    done = session.execute(
        update(table)
        .where(table.c.id == sent.id, table.c.status == "pending", table.c.attempts == sent.number)
        .values(**values)
        .returning(
            table.c.kind,
            table.c.enrollment_id,
            table.c.handoff_id,
            table.c.step_id,
            table.c.on_failure,
        )
    ).one_or_none()
    if done is None:
        return None
    kind, enrollment_id, handoff_id, step_id, on_failure = done
    status: str = values["status"]
    if kind == "journey" and status == "dead" and enrollment_id is not None:
        _journey_call_failed(
            session, sent, enrollment_id, step_id, on_failure, values["last_error"], now=now
        )
    elif kind == "crm" and handoff_id is not None and status != "pending":
        crm = {"crm_status": "synced" if status == "delivered" else "failed"}
        reference = _reference(outcome.response)
        if reference:
            crm["crm_reference"] = reference
        session.execute(update(Handoff).where(Handoff.id == handoff_id).values(**crm))
    elif kind == "notify" and status != "pending":
        notification_id = notification_of(sent.webhook_id)
        if notification_id is not None:
            session.execute(
                update(Notification)
                .where(Notification.id == notification_id)
                .values(
                    status="sent" if status == "delivered" else "failed",
                    sent_at=now if status == "delivered" else None,
                    error=None if status == "delivered" else values["last_error"],
                )
            )
    return status


def deliver(
    database: Database,
    attempts: Sequence[Attempt],
    *,
    settings: Settings,
    clock: Callable[[], datetime],
    jitter: Callable[[], float] = random.random,
) -> list[str | None]:
    """Make each leased attempt and write its outcome, one transaction per delivery."""
    if not attempts:
        return []
    keys = [webhook_key(k) for k in settings.signing_keys()]
    statuses: list[str | None] = []
    with httpx.Client(trust_env=False, follow_redirects=False) as client:
        for sent in attempts:
            outcome = attempt(
                sent,
                keys=keys,
                client=client,
                allow_private=settings.webhook_allow_private,
                now=clock(),
            )
            with database.unit_of_work() as session:
                status = finish(session, sent, outcome, now=clock(), jitter=jitter())
            if status == "dead":
                log.warning(
                    "webhook %s to %s is dead: %s", sent.webhook_id, sent.url, outcome.error
                )
            statuses.append(status)
    return statuses


def notification_webhook_id(notification_id: int) -> str:
    """Return the ``webhook-id`` of the chat post of notification ``notification_id``."""
    return f"ntf_{notification_id}"


def notification_of(webhook_id: str) -> int | None:
    """Return the notification a ``ntf_<id>`` delivery posts, or None for other deliveries."""
    prefix, _, rest = webhook_id.partition("_")
    return int(rest) if prefix == "ntf" and rest.isdigit() else None


def list_deliveries(
    session: Session,
    *,
    limit: int,
    status: str | None = None,
    kind: str | None = None,
    before: int | None = None,
) -> tuple[list[DeliveryOut], int | None]:
    """Return one page of deliveries, newest first, and the ``before`` id of the next page."""
    query: Select[WebhookDelivery] = (
        select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit + 1)
    )
    if status is not None:
        _check_choice("status", status, STATUSES)
        query = query.where(WebhookDelivery.status == status)
    if kind is not None:
        _check_choice("kind", kind, KINDS)
        query = query.where(WebhookDelivery.kind == kind)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    rows = list(session.scalars(query))
    following = rows[limit - 1].id if len(rows) > limit else None
    return [to_out(r) for r in rows[:limit]], following


def count_by_status(session: Session) -> dict[str, int]:
    """Count deliveries by status (for ``nurture webhooks list``'s summary)."""
    rows = session.execute(
        select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
    )
    return {status: count for status, count in rows}


def retry_dead(session: Session, delivery_id: int, *, now: datetime) -> DeliveryOut:
    """Re-arm a dead delivery: due now, with a full set of attempts and the same webhook-id.

    Raises NotFound for an unknown id and Conflict for a delivery that is not dead.
    """
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound(f"no webhook delivery {delivery_id}")
    if row.status != "dead":
        raise Conflict(f"webhook delivery {delivery_id} is {row.status}, not dead")
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    # ``on_failure`` was taken when the delivery died: a manual retry does not move the
    # enrollment a second time.
    row.on_failure = None
    session.flush()
    return to_out(row)


def to_out(row: WebhookDelivery) -> DeliveryOut:
    """Return the API view of a delivery row."""
    return DeliveryOut(
        id=row.id,
        webhook_id=row.webhook_id,
        kind=row.kind,
        method=row.method,
        url=row.url,
        status=row.status,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        next_attempt_at=row.next_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        contact_id=row.contact_id,
        enrollment_id=row.enrollment_id,
        handoff_id=row.handoff_id,
        step_id=row.step_id,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


def _attempt(row: WebhookDelivery, number: int, timeout: timedelta) -> Attempt:
    return Attempt(
        id=row.id,
        webhook_id=row.webhook_id,
        method=row.method,
        url=row.url,
        headers=dict(row.headers),
        body=row.body,
        number=number,
        max_attempts=row.max_attempts,
        timeout=timeout,
    )


def _journey_call_failed(
    session: Session,
    sent: Attempt,
    enrollment_id: int,
    step_id: str | None,
    on_failure: str | None,
    error: str | None,
    *,
    now: datetime,
) -> None:
    """Record the failure on the enrollment and take ``on_failure`` if it is still live."""
    table = table_of(Enrollment)
    # Updating first locks the row (PostgreSQL) or the database (SQLite), as advance does.
    live = session.scalar(
        update(table)
        .where(table.c.id == enrollment_id, table.c.status != "exited")
        .values(updated_at=now)
        .returning(table.c.id)
    )
    rerouted = None
    if live is not None and on_failure:
        row = session.scalars(select(Enrollment).where(Enrollment.id == enrollment_id)).one()
        state = reroute(EnrollmentState.from_json(row.state), on_failure)
        row.state = state.to_json()
        row.step = state.step
        row.status = state.status
        row.wake_at = now
        row.waiting_on = None
        row.lease_owner = None
        row.lease_until = None
        rerouted = on_failure
    name = f"webhook_failed:{step_id or '?'}"
    runs = session.scalar(
        select(func.count())
        .select_from(StepRun)
        .where(StepRun.enrollment_id == enrollment_id, StepRun.step == name)
    )
    session.add(
        StepRun(
            enrollment_id=enrollment_id,
            step=name,
            attempt=(runs or 0) + 1,
            status="failed",
            result={
                "webhook_id": sent.webhook_id,
                "url": sent.url,
                "error": error,
                "rerouted_to": rerouted,
                "enrollment_live": live is not None,
            },
            started_at=now,
            finished_at=now,
        )
    )
    session.flush()


def _reference(response: str | None) -> str | None:
    """Read a CRM record id from a JSON answer (``{"id": ...}``), if the CRM sent one."""
    if not response:
        return None
    try:
        answer = json.loads(response)
    except ValueError:
        return None
    if isinstance(answer, dict) and isinstance(answer.get("id"), str | int):
        return str(answer["id"])[:200]
    return None


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise InvalidInput(
            f"unknown {name}", problems=[FieldProblem(name, f"choose from {', '.join(choices)}")]
        )
