"""What a journey's steps can look at, so the runtime loads only that for its enrollments.

Every enrollment stepped needs the contact's own row (attributes, score). Tags, segment
memberships, subscriptions, recent events and email activity each cost the runtime a
query per batch; a journey whose conditions never read them should not pay for them.
The answer is found by walking the spec: any condition leaf that reads a part of the
contact view, and step kinds that read one outside conditions (``wait_for`` looks for an
existing event, a send checks topic consent), ask for it. A leaf this module does not know
asks for everything, so a new condition is never planned against a view missing its data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from engine.journey.conditions import (
    AllOf,
    AnyOf,
    AttrLeaf,
    EmailLeaf,
    EntryLeaf,
    EventLeaf,
    ListLeaf,
    NotOf,
    PropLeaf,
    RfmLeaf,
    ScoreLeaf,
    SegmentLeaf,
    SubscribedLeaf,
    TagLeaf,
)
from engine.journey.spec import JourneySpec
from engine.journey.steps.send_email import SendEmailStep
from engine.journey.steps.wait_for import WaitForStep


@dataclass(frozen=True, slots=True)
class ViewNeeds:
    """The parts of a contact view, beyond its row, that planning may read."""

    tags: bool = False
    segments: bool = False
    subscriptions: bool = False
    events: bool = False
    emails: bool = False
    rfm: bool = False
    lists: bool = False

    def __or__(self, other: ViewNeeds) -> ViewNeeds:
        return ViewNeeds(
            tags=self.tags or other.tags,
            segments=self.segments or other.segments,
            subscriptions=self.subscriptions or other.subscriptions,
            events=self.events or other.events,
            emails=self.emails or other.emails,
            rfm=self.rfm or other.rfm,
            lists=self.lists or other.lists,
        )


NOTHING = ViewNeeds()
EVERYTHING = ViewNeeds(
    tags=True,
    segments=True,
    subscriptions=True,
    events=True,
    emails=True,
    rfm=True,
    lists=True,
)

#: Leaves that read only the contact's row, the entry or the event being handled.
_ROW_ONLY = (AttrLeaf, PropLeaf, EntryLeaf, ScoreLeaf)
_GROUPS = (AllOf, AnyOf, NotOf)
_LEAF_NEEDS: Mapping[type[BaseModel], ViewNeeds] = {
    TagLeaf: ViewNeeds(tags=True),
    SegmentLeaf: ViewNeeds(segments=True),
    SubscribedLeaf: ViewNeeds(subscriptions=True),
    EventLeaf: ViewNeeds(events=True),
    EmailLeaf: ViewNeeds(emails=True),
    RfmLeaf: ViewNeeds(rfm=True),
    ListLeaf: ViewNeeds(lists=True),
}


def view_needs(spec: JourneySpec) -> ViewNeeds:
    """Return what stepping ``spec``'s enrollments reads of a contact beyond its row."""
    needs = NOTHING
    for step in spec.steps.values():
        if isinstance(step, WaitForStep):
            needs |= ViewNeeds(events=True)
        if isinstance(step, SendEmailStep):
            needs |= ViewNeeds(subscriptions=True)
        for condition, _, _ in step.conditions():
            needs |= _condition_needs(condition)
    for condition in spec.exit_when:
        needs |= _condition_needs(condition)
    for goal in spec.goals:
        needs |= _condition_needs(goal.when)
    return needs


def _condition_needs(condition: Any) -> ViewNeeds:
    needs = NOTHING
    for node in _nodes(condition):
        if isinstance(node, (*_GROUPS, *_ROW_ONLY)):
            continue
        found = _LEAF_NEEDS.get(type(node))
        if found is None:
            return EVERYTHING  # a condition this module has not learned: load it all
        needs |= found
    return needs


def _nodes(value: Any) -> Iterator[BaseModel]:
    """Yield every model nested in a condition, the condition first."""
    if isinstance(value, BaseModel):
        yield value
        if isinstance(value, _GROUPS):
            for name in type(value).model_fields:
                yield from _nodes(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _nodes(item)
