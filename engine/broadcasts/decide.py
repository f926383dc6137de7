"""Pick an A/B test's winner from human opens or clicks, and send the rest with it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from engine.broadcasts.ab import VariantResult, pick_winner
from engine.broadcasts.spec import ABTest
from engine.store.models import Broadcast, Message, TrackingEvent

_KIND = {"opens": "open", "clicks": "click"}


def variant_results(session: Session, broadcast_id: str, metric: str) -> dict[str, VariantResult]:
    """Each variant's messages sent and messages with a human open (or click)."""
    sent: dict[str | None, int] = {
        variant: count
        for variant, count in session.execute(
            select(Message.variant, func.count())
            .where(
                Message.broadcast_id == broadcast_id,
                Message.variant.is_not(None),
                Message.status == "sent",
            )
            .group_by(Message.variant)
        )
    }
    hits: dict[str | None, int] = {
        variant: count
        for variant, count in session.execute(
            select(Message.variant, func.count(distinct(Message.id)))
            .join(TrackingEvent, TrackingEvent.message_id == Message.id)
            .where(
                Message.broadcast_id == broadcast_id,
                Message.variant.is_not(None),
                TrackingEvent.kind == _KIND[metric],
                TrackingEvent.classification == "human",
            )
            .group_by(Message.variant)
        )
    }
    return {
        str(name): VariantResult(int(count), int(hits.get(name, 0))) for name, count in sent.items()
    } | {str(name): VariantResult(0, int(n)) for name, n in hits.items() if name not in sent}


def decide(session: Session, broadcast_id: str, *, now: datetime) -> str | None:
    """Record the winner of a waiting A/B test and start sending the rest; never commits."""
    broadcast = session.get(Broadcast, broadcast_id, with_for_update=True)
    if broadcast is None or broadcast.phase != "waiting" or not broadcast.ab:
        return None
    test = ABTest.model_validate(broadcast.ab)
    names = [v.name for v in test.variants]
    results = variant_results(session, broadcast_id, test.metric)
    winner = pick_winner(results, names)
    broadcast.winner = winner
    broadcast.ab_result = {
        "winner": winner,
        "metric": test.metric,
        "decided_at": now.isoformat(),
        "variants": {
            name: {
                "sent": results.get(name, VariantResult(0, 0)).sent,
                test.metric: results.get(name, VariantResult(0, 0)).hits,
            }
            for name in names
        },
    }
    broadcast.phase = "rest"
    broadcast.cursor = 0
    broadcast.updated_at = now
    return winner
