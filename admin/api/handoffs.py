"""The sales API: my handoffs, one handoff with its lead brief, accept, reject with a reason.

A ``sales`` key tied to a user sees only that user's handoffs; ``marketer`` and ``admin``
keys see every handoff (``mine=1`` narrows them to their own).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from admin.api.deps import Reader, Relay, SessionDep
from engine.auth.apikeys import Principal
from engine.clock import utcnow
from engine.contacts.service import decode_cursor, encode_cursor
from engine.handoffs import responses
from engine.handoffs.brief import lead_brief
from engine.store.models import Contact, Handoff

router = APIRouter(prefix="/api/handoffs", tags=["handoffs"])
Status = Literal["pending", "assigned", "unassigned", "escalated", "accepted", "rejected"]


class HandoffOut(BaseModel):
    """One handoff: whose lead, to whom, in what state, and by when to answer."""

    id: int
    contact_id: int
    email: str
    name: str | None
    score: int
    grade: str | None
    lifecycle_stage: str
    assignee_id: int | None
    pool: str | None
    status: str
    reason: str | None = Field(description="How the rep was chosen")
    created_at: datetime
    sla_due_at: datetime | None
    responded_at: datetime | None


class HandoffDetail(HandoffOut):
    """A handoff with the lead brief: score with reasons, touches, pages, emails, timeline."""

    brief: dict[str, Any]
    rejection: dict[str, Any] | None


class HandoffPage(BaseModel):
    """One page, newest first; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[HandoffOut]
    next_cursor: str | None


class Rejection(BaseModel):
    """Why sales does not take the lead (shown to marketing, stored on the event)."""

    reason: str = Field(min_length=1, max_length=1000, examples=["予算が来期まで確保できない"])


def _viewer(principal: Principal) -> responses.Viewer:
    return responses.Viewer(principal.user_id, principal.allows("marketer"))


def _out(handoff: Handoff, contact: Contact) -> dict[str, Any]:
    names = [n for n in (contact.last_name, contact.first_name) if n]
    return {
        "id": handoff.id,
        "contact_id": contact.id,
        "email": contact.email,
        "name": " ".join(names) or None,
        "score": contact.score,
        "grade": contact.grade,
        "lifecycle_stage": contact.lifecycle_stage,
        "assignee_id": handoff.assignee_id,
        "pool": handoff.pool,
        "status": handoff.status,
        "reason": handoff.reason,
        "created_at": handoff.created_at,
        "sla_due_at": handoff.sla_due_at,
        "responded_at": handoff.responded_at,
    }


def _detail(session: SessionDep, handoff: Handoff) -> HandoffDetail:
    contact = session.get(Contact, handoff.contact_id)
    assert contact is not None  # the foreign key cascades
    stored = handoff.brief or {}
    return HandoffDetail(
        **_out(handoff, contact),
        brief=lead_brief(session, contact.id),
        rejection=stored.get("rejection"),
    )


@router.get("", response_model=HandoffPage)
def list_handoffs(
    session: SessionDep,
    principal: Reader,
    mine: Annotated[bool, Query(description="Only handoffs assigned to the caller")] = False,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> HandoffPage:
    """List handoffs newest first; a sales key sees only its user's."""
    rows = responses.list_handoffs(
        session,
        _viewer(principal),
        mine=mine,
        status=status,
        limit=limit + 1,
        before=decode_cursor(cursor) if cursor else None,
    )
    page = rows[:limit]
    wanted = {h.contact_id for h in page}
    contacts = {c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_(wanted)))}
    return HandoffPage(
        items=[HandoffOut(**_out(h, contacts[h.contact_id])) for h in page],
        next_cursor=encode_cursor(page[-1].id) if len(rows) > limit else None,
    )


@router.get("/{handoff_id}", response_model=HandoffDetail)
def get_handoff(
    handoff_id: Annotated[int, Path(ge=1)], session: SessionDep, principal: Reader
) -> HandoffDetail:
    """Return one handoff with the lead brief."""
    return _detail(session, responses.get_handoff(session, handoff_id, _viewer(principal)))


@router.post(
    "/{handoff_id}/accept",
    response_model=HandoffDetail,
    responses={409: {"description": "Already answered"}},
)
def accept(
    handoff_id: Annotated[int, Path(ge=1)], session: SessionDep, principal: Reader, _: Relay
) -> HandoffDetail:
    """Accept the lead: it becomes a sales-qualified lead (stage ``sql``)."""
    handoff = responses.answer(session, handoff_id, _viewer(principal), accept=True, now=utcnow())
    session.commit()
    return _detail(session, handoff)


@router.post(
    "/{handoff_id}/reject",
    response_model=HandoffDetail,
    responses={409: {"description": "Already answered"}},
)
def reject(
    handoff_id: Annotated[int, Path(ge=1)],
    body: Rejection,
    session: SessionDep,
    principal: Reader,
    _: Relay,
) -> HandoffDetail:
    """Reject the lead with a reason: it is recycled and a ``handoff_rejected`` event fires."""
    handoff = responses.answer(
        session, handoff_id, _viewer(principal), accept=False, reason=body.reason, now=utcnow()
    )
    session.commit()
    return _detail(session, handoff)
