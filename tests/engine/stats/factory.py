"""Plant messages, tracking events and unsubscribes with known figures."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from engine.store.models import Message, Suppression, TrackingEvent

_ids = itertools.count(1)


def message(
    *,
    at: datetime,
    status: str = "sent",
    to: str = "taro@example.jp",
    journey: str | None = "welcome",
    broadcast: str | None = None,
    template: str = "welcome-ja",
    variant: str | None = None,
    bounced_after: timedelta | None = None,
    smtp_code: str | None = None,
) -> dict[str, Any]:
    """One messages row sent at ``at`` (queued a minute before)."""
    n = next(_ids)
    return {
        "uid": f"u{n:08d}",
        "message_id": f"<{n}@nurture.test>",
        "idempotency_key": f"k{n}",
        "to_address": to,
        "journey_id": journey,
        "broadcast_id": broadcast,
        "template": template,
        "variant": variant,
        "status": status,
        "attempts": 1,
        "smtp_code": smtp_code,
        "queued_at": at - timedelta(minutes=1),
        "sent_at": at if status not in ("deferred", "failed", "queued") else None,
        "bounced_at": at + bounced_after if bounced_after is not None else None,
    }


def plant(
    session: Session,
    messages: list[dict[str, Any]],
    events: Sequence[tuple[int, str, str, datetime]] = (),
    unsubscribes: Sequence[tuple[int, datetime]] = (),
) -> list[int]:
    """Insert ``messages``, then events ``(message index, kind, class, at)`` and unsubscribes
    ``(message index, at)``; return the message ids."""
    ids = [
        session.execute(insert(Message).values(**row).returning(Message.id)).scalar_one()
        for row in messages
    ]
    if events:
        session.execute(
            insert(TrackingEvent),
            [
                {
                    "kind": kind,
                    "message_id": ids[index],
                    "classification": klass,
                    "occurred_at": at,
                    "user_agent": "Mozilla/5.0",
                }
                for index, kind, klass, at in events
            ],
        )
    if unsubscribes:
        session.execute(
            insert(Suppression),
            [
                {
                    "email": messages[index]["to_address"],
                    "scope": "*",
                    "reason": "unsubscribe",
                    "source": "list-unsubscribe",
                    "detail": f"message {messages[index]['uid']}",
                    "created_at": at,
                }
                for index, at in unsubscribes
            ],
        )
    session.flush()
    return ids
