"""What the API and the CSV importer accept and return for contacts (Pydantic at the edge)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from engine.contacts.fields import check_locale, check_timezone, normalize_email

MAX_ATTRIBUTES_BYTES = 64 * 1024

Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(normalize_email)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
TimeZone = Annotated[str, AfterValidator(check_timezone)]
Locale = Annotated[str, StringConstraints(max_length=35), AfterValidator(check_locale)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Topic = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")]
LifecycleStage = Literal[
    "subscriber", "lead", "mql", "sql", "opportunity", "customer", "recycled", "disqualified"
]


def _check_attributes(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if not key or key.startswith("$") or "." in key:
            raise ValueError(
                f"attribute name {key!r} is not allowed (no empty names, '$' prefix or dots; "
                "nest objects instead)"
            )
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes are {size} bytes; the limit is {MAX_ATTRIBUTES_BYTES}")
    return value


Attributes = Annotated[dict[str, Any], AfterValidator(_check_attributes)]


class ConsentIn(BaseModel):
    """Consent given or withdrawn for a topic, with the proof a regulator asks for."""

    model_config = ConfigDict(extra="forbid")

    topic: Topic = "marketing_email"
    granted: bool
    source: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    text: Annotated[str, StringConstraints(max_length=4000)] | None = None
    ip: Annotated[str, StringConstraints(max_length=45)] | None = None
    occurred_at: datetime | None = None

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return require_aware(value)


class ContactIn(BaseModel):
    """Create or update by email; fields left out (or null) keep their stored value."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    first_name: Name | None = None
    last_name: Name | None = None
    timezone: TimeZone | None = None
    locale: Locale | None = None
    lifecycle_stage: LifecycleStage | None = None
    owner: Email | None = Field(None, description="Email of the owning (sales) user.")
    attributes: Attributes | None = Field(
        None, description="Merged into the stored attributes (RFC 7396); null values are ignored."
    )
    tags: list[Tag] | None = Field(None, description="Tags to add.")
    consent: list[ConsentIn] | None = None


class ContactPatch(BaseModel):
    """Partial update: a field set to null is cleared; ``attributes`` is an RFC 7396 merge patch."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    timezone: TimeZone | None = None
    locale: Locale | None = None
    lifecycle_stage: LifecycleStage | None = None
    owner: Email | None = None
    attributes: dict[str, Any] | None = None


class ContactOut(BaseModel):
    """A contact as the API returns it."""

    id: int
    email: str
    first_name: str | None
    last_name: str | None
    display_name: str
    timezone: str | None
    locale: str | None
    lifecycle_stage: str
    score: int
    grade: str | None
    owner: str | None
    attributes: dict[str, Any]
    tags: list[str]
    subscriptions: dict[str, bool]
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None


class ContactPage(BaseModel):
    """One page of a contact listing; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[ContactOut]
    next_cursor: str | None


def require_aware(value: datetime | None) -> datetime | None:
    """Refuse times without an offset: ``10:00`` means different instants in Tokyo and London."""
    if value is not None and value.tzinfo is None:
        raise ValueError("needs a time zone offset, for example 2026-11-23T10:00:00+09:00 or ...Z")
    return value
