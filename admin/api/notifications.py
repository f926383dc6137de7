"""The calling user's notifications (``notify`` steps and handoffs) and marking them read.

Notifications belong to users, so these calls need a personal API key (one made for a user).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from admin.api.deps import Reader, SessionDep
from engine.auth.apikeys import Principal
from engine.clock import utcnow
from engine.contacts.service import decode_cursor, encode_cursor
from engine.errors import PermissionDenied
from engine.notifications import service

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


class NotificationOut(BaseModel):
    """One notification; ``read_at`` is null until it is marked read."""

    id: int
    channel: str
    subject: str | None
    body: str
    status: str
    contact_id: int | None
    enrollment_id: int | None
    handoff_id: int | None
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    """One page, newest first; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[NotificationOut]
    next_cursor: str | None


def _user(principal: Principal) -> int:
    if principal.user_id is None:
        raise PermissionDenied("notifications belong to users: call with a user's personal API key")
    return principal.user_id


@router.get("", response_model=NotificationPage)
def list_notifications(
    session: SessionDep,
    principal: Reader,
    channel: Literal["in_app", "email", "slack"] = "in_app",
    unread: Annotated[bool, Query(description="Only those not read yet")] = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> NotificationPage:
    """List the caller's notifications newest first (the admin UI's inbox: ``in_app``)."""
    rows, following = service.list_for_user(
        session,
        _user(principal),
        limit=limit,
        channel=channel,
        unread=unread,
        before=decode_cursor(cursor) if cursor else None,
    )
    return NotificationPage(
        items=[NotificationOut.model_validate(asdict(r)) for r in rows],
        next_cursor=encode_cursor(following) if following is not None else None,
    )


@router.post("/{notification_id}/read", response_model=NotificationOut)
def mark_read(
    notification_id: Annotated[int, Path(ge=1)], session: SessionDep, principal: Reader
) -> NotificationOut:
    """Mark one of the caller's notifications read (again: no change)."""
    row = service.mark_read(session, notification_id, user_id=_user(principal), now=utcnow())
    session.commit()
    return NotificationOut.model_validate(asdict(row))
