"""Webhook deliveries: the list (dead letters first of all) and a manual retry.

Thin views over ``engine.webhooks.service``; the scheduler's ``webhooks.retry`` sweep makes
a re-armed delivery's next attempt within seconds.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from admin.api.deps import SessionDep, Writer
from engine.clock import utcnow
from engine.contacts.service import decode_cursor, encode_cursor
from engine.webhooks import service

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


class DeliveryOut(BaseModel):
    """One delivery: where it goes, how it went, and what it belongs to."""

    id: int
    webhook_id: str
    kind: Literal["journey", "crm", "notify"]
    method: str
    url: str
    status: Literal["pending", "delivered", "dead"]
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


class DeliveryPage(BaseModel):
    """One page, newest first; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[DeliveryOut]
    next_cursor: str | None


@router.get("/deliveries", response_model=DeliveryPage)
def list_deliveries(
    session: SessionDep,
    _: Writer,
    status: Annotated[
        Literal["pending", "delivered", "dead"] | None,
        Query(description="dead: the dead-letter list"),
    ] = None,
    kind: Literal["journey", "crm", "notify"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> DeliveryPage:
    """List deliveries newest first, one keyset page at a time."""
    rows, following = service.list_deliveries(
        session,
        limit=limit,
        status=status,
        kind=kind,
        before=decode_cursor(cursor) if cursor else None,
    )
    return DeliveryPage(
        items=[DeliveryOut.model_validate(asdict(r)) for r in rows],
        next_cursor=encode_cursor(following) if following is not None else None,
    )


@router.post(
    "/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    responses={409: {"description": "The delivery is not dead"}},
)
def retry_delivery(
    delivery_id: Annotated[int, Path(ge=1)], session: SessionDep, _: Writer
) -> DeliveryOut:
    """Re-arm a dead delivery with the same webhook-id; it is attempted again within seconds."""
    row = service.retry_dead(session, delivery_id, now=utcnow())
    session.commit()
    return DeliveryOut.model_validate(asdict(row))
