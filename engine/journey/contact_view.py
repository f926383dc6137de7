"""What a condition may look at: a read-only view of one contact, built by the caller."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.journey.conditions import EmailActivity


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One tracked event: ``order_completed`` at a time, with its properties."""

    name: str
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EmailRecord:
    """One email activity; ``human`` is False for machine opens and link-scanner clicks."""

    activity: EmailActivity
    at: datetime
    step: str | None = None
    template: str | None = None
    human: bool = True


@dataclass(frozen=True)  # no slots: ``evolve`` copies an instance dict faster
class ContactView:
    """A contact as conditions see it; no I/O happens behind it.

    ``attributes`` is the contact document (``email``, ``first_name``,
    ``lifecycle_stage``, nested ``subscription.end_date`` ...). ``scores`` maps a
    scoring model to the score. ``emails`` holds the activities the caller scopes
    to the question (usually this enrollment's sends plus any unsubscribe).
    ``entry`` is the entry event (``name``, ``properties`` ...) or, for a date
    trigger, the attributes captured at entry; ``entered_at`` is when it happened.
    ``rfm`` is the customer's stored RFM class (None: no purchases scored).
    """

    attributes: Mapping[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    subscriptions: frozenset[str] = frozenset()
    scores: Mapping[str, float] = field(default_factory=dict)
    events: tuple[EventRecord, ...] = ()
    emails: tuple[EmailRecord, ...] = ()
    entry: Mapping[str, Any] = field(default_factory=dict)
    entered_at: datetime | None = None
    rfm: str | None = None
    lists: frozenset[str] = frozenset()
