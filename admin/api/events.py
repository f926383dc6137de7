"""``POST /api/events``: one event or a batch of up to 10,000."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import TypeAdapter

from admin.api.deps import Ingest, Relay, SessionDep
from admin.api.validation import validate_body
from engine.clock import utcnow
from engine.errors import FieldProblem, InvalidInput
from engine.events.schemas import EventIn, IngestResult
from engine.events.service import check_batch_size, ingest_events

router = APIRouter(prefix="/api/events", tags=["events"])

_ONE = TypeAdapter(EventIn)
_MANY = TypeAdapter(list[EventIn])
_BODY_SCHEMA = {
    "oneOf": [
        {"$ref": "#/components/schemas/EventIn"},
        {"type": "array", "maxItems": 10_000, "items": {"$ref": "#/components/schemas/EventIn"}},
    ]
}


@router.post(
    "",
    status_code=202,
    response_model=IngestResult,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}
    },
    responses={413: {"description": "More than 10,000 events in one call"}},
)
def post_events(
    session: SessionDep,
    _: Ingest,
    payload: Annotated[Any, Body(include_in_schema=False)],
    _relay: Relay,
) -> IngestResult:
    """Store events; an unknown email creates the contact, a known idempotency_key is skipped.

    The batch is all or nothing: any invalid event rejects the call, naming each bad field.
    """
    if isinstance(payload, list):
        check_batch_size(len(payload))
        events = validate_body(_MANY, payload)
    elif isinstance(payload, dict):
        events = [validate_body(_ONE, payload)]
    else:
        raise InvalidInput(
            "the request is not valid",
            problems=[FieldProblem("body", "must be an event object or a list of them")],
        )
    result = ingest_events(session, events, now=utcnow())
    session.commit()
    return result


def event_schema_components() -> dict[str, Any]:
    """The EventIn schema for the OpenAPI document, since the body is validated by hand."""
    return {"EventIn": _ONE.json_schema(ref_template="#/components/schemas/{model}")}
