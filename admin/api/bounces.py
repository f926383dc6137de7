"""``POST /api/bounces``: a bounce or complaint forwarded by HTTP (raw RFC 5322 body)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from admin.api.deps import Ingest, Relay, SessionDep
from engine.bounces.service import Outcome, SoftLimit, receive, soft_limit_of
from engine.clock import utcnow
from engine.errors import FieldProblem, InvalidInput, TooLarge
from engine.settings import Settings

router = APIRouter(prefix="/api/bounces", tags=["bounces"])

MAX_BYTES = 10 * 1024 * 1024
_RAW = {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}}


class VerdictOut(BaseModel):
    """One recipient's verdict."""

    recipient: str
    kind: Literal["hard", "soft", "complaint", "auto_reply", "not_bounce"]
    reason: str
    status: str
    diagnostic: str
    feedback_type: str


class BounceResult(BaseModel):
    """What the message was read as and what it changed."""

    verdicts: list[VerdictOut]
    recorded: int = Field(description="new bounce and complaint rows")
    duplicates: int = Field(description="verdicts already recorded from the same message")
    suppressed: dict[str, str] = Field(description="address → suppression reason")


@router.post(
    "",
    status_code=202,
    response_model=BounceResult,
    openapi_extra={"requestBody": {"required": True, "content": _RAW}},
    responses={413: {"description": "Over 10 MiB"}},
)
async def post_bounce(
    request: Request, session: SessionDep, _: Ingest, _relay: Relay
) -> BounceResult:
    """Store the raw message, then apply its bounces and complaints; a re-post changes nothing.

    ``X-Envelope-To`` may carry the envelope recipient (``bounces+UID@…``) for attribution.
    """
    if request.headers.get("content-type", "").split(";")[0].strip() not in (
        "message/rfc822",
        "text/plain",
        "application/octet-stream",
    ):
        raise InvalidInput(
            "the request is not valid",
            problems=[FieldProblem("content-type", "must be message/rfc822")],
        )
    raw = await request.body()
    if len(raw) > MAX_BYTES:
        raise TooLarge("the message is over 10 MiB", problems=[FieldProblem("body", "too large")])
    if not raw.strip():
        raise InvalidInput("the request is not valid", problems=[FieldProblem("body", "is empty")])
    settings: Settings = request.app.state.settings
    envelope = [a for a in request.headers.get("x-envelope-to", "").split(",") if a.strip()]
    outcome = await run_in_threadpool(  # the database calls block; keep them off the loop
        _receive,
        session,
        raw,
        rcpt_to=envelope,
        soft_limit=soft_limit_of(settings.soft_bounce_limit, settings.soft_bounce_window_days),
    )
    return BounceResult(
        verdicts=[
            VerdictOut(
                recipient=v.recipient,
                kind=v.kind,
                reason=v.reason,
                status=v.status,
                diagnostic=v.diagnostic,
                feedback_type=v.feedback_type,
            )
            for v in outcome.verdicts
        ],
        recorded=outcome.recorded,
        duplicates=outcome.duplicates,
        suppressed=outcome.suppressed,
    )


def _receive(session: Session, raw: bytes, *, rcpt_to: list[str], soft_limit: SoftLimit) -> Outcome:
    outcome = receive(
        session, raw, source="api", now=utcnow(), rcpt_to=rcpt_to, soft_limit=soft_limit
    )
    session.commit()
    return outcome
