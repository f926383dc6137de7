"""The event ingestion payload (``POST /api/events``)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from engine.contacts.schemas import Email, require_aware

MAX_BATCH = 10_000
MAX_PROPERTIES_BYTES = 32 * 1024

_EVENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


def _check_event_type(value: str) -> str:
    if not _EVENT_TYPE.match(value):
        raise ValueError(
            f"{value[:120]!r} is not an event type: use 1-100 letters, digits, '_', '.', ':' "
            "or '-', starting with a letter or digit (for example form_submitted)"
        )
    return value


EventType = Annotated[str, AfterValidator(_check_event_type)]


def _check_properties(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_PROPERTIES_BYTES:
        raise ValueError(f"properties are {size} bytes; the limit is {MAX_PROPERTIES_BYTES}")
    return value


class EventIn(BaseModel):
    """One event about a contact; an unknown email creates the contact."""

    model_config = ConfigDict(extra="forbid")

    type: EventType = Field(description="Event name, e.g. form_submitted or page_viewed.")
    email: Email
    properties: Annotated[dict[str, Any], AfterValidator(_check_properties)] = Field(
        default_factory=dict
    )
    occurred_at: datetime | None = Field(
        None, description="When it happened (ISO 8601 with offset); default: when received."
    )
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="Posting the same key again stores nothing new."
    )

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return require_aware(value)


class IngestResult(BaseModel):
    """What a POST of events did."""

    accepted: int = Field(description="Events stored by this call.")
    duplicates: int = Field(description="Events skipped because their idempotency_key was known.")
    contacts_created: int
    event_ids: list[int | None] = Field(
        description="Per event in the order posted: its new id, or null for a duplicate."
    )
