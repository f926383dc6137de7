"""The condition language (design §2.3): structured data, compiled, never ``eval``ed.

``cond := {all:[…]} | {any:[…]} | {not: cond} | leaf``. A leaf names what it
looks at (``attr``, ``prop``, ``entry``, ``event``, ``email``, ``segment``, ``tag``,
``subscribed``, ``score``, ``rfm``, ``list``) and, for value leaves, exactly one operator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from engine.journey.base import AttrPath, Name, SpecModel
from engine.journey.diagnostics import Path
from engine.journey.durations import Duration

OPERATORS: tuple[str, ...] = (
    "eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "between", "exists",
    "contains", "starts_with", "before", "after", "within_last", "within_next",
)  # fmt: skip
COUNT_OPERATORS: tuple[str, ...] = ("eq", "ne", "gt", "gte", "lt", "lte", "between")
EmailActivity = Literal["sent", "opened", "clicked", "bounced", "unsubscribed"]
RfmClass = Literal[
    "champions", "loyal", "potential_loyalists", "new", "promising", "needs_attention",
    "about_to_sleep", "at_risk", "cannot_lose", "hibernating", "lost",
]  # fmt: skip
RFM_CLASSES: tuple[str, ...] = get_args(RfmClass)
_REF = re.compile(r"^(entry|contact)\.[\w\-]+(\.[\w\-]+)*$")
_ONE_OPERATOR: dict[str, Any] = {"minProperties": 2, "maxProperties": 2}
_REF_EXAMPLE = "{ref: entry.<path>} or {ref: contact.<path>}"
_VALUE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": ["string", "number", "boolean", "null"]},
        {"type": "array", "items": {"type": ["string", "number", "boolean", "null"]}},
        {
            "type": "object",
            "properties": {"ref": {"type": "string", "pattern": _REF.pattern}},
            "required": ["ref"],
            "additionalProperties": False,
        },
    ]
}


class Ref(SpecModel):
    """A value read at evaluation time: ``{ref: entry.properties.cart_id}``."""

    ref: str

    @property
    def scope(self) -> Literal["entry", "contact"]:
        """Return where the value lives: the entry event or the contact."""
        return "entry" if self.ref.startswith("entry.") else "contact"

    @property
    def path(self) -> str:
        """Return the dotted path inside that scope."""
        return self.ref.partition(".")[2]


def _value(value: Any) -> Any:
    if isinstance(value, Ref):
        return value
    if isinstance(value, dict):
        if set(value) == {"ref"} and isinstance(value["ref"], str) and _REF.match(value["ref"]):
            return Ref.model_construct(ref=value["ref"])
        raise PydanticCustomError(
            "E112", "a value is a literal or {example}", {"example": _REF_EXAMPLE}
        )
    if isinstance(value, list | tuple):
        return tuple(_value(item) for item in value)
    return value


Value = Annotated[Any, AfterValidator(_value), WithJsonSchema(_VALUE_SCHEMA)]
"""A literal (text, number, boolean, date text, list) or a ``{ref: …}``."""


def _exactly_one(model: BaseModel, allowed: tuple[str, ...]) -> None:
    given = [op for op in allowed if _field_name(op) in model.model_fields_set]
    if len(given) != 1:
        found = ", ".join(given) if given else "none"
        raise PydanticCustomError(
            "E112",
            "a comparison needs exactly one operator, found {found} (operators: {ops})",
            {"ops": " ".join(allowed), "found": found},
        )


def _field_name(op: str) -> str:
    return "in_" if op == "in" else op


class Operators(SpecModel):
    """The operator half of a value leaf; exactly one operator may be set."""

    operators: ClassVar[tuple[str, ...]] = OPERATORS

    eq: Value = None
    ne: Value = None
    in_: tuple[Value, ...] | None = Field(default=None, alias="in")
    nin: tuple[Value, ...] | None = None
    gt: Value = None
    gte: Value = None
    lt: Value = None
    lte: Value = None
    between: tuple[Value, Value] | None = None
    exists: bool | None = None
    contains: Value = None
    starts_with: Value = None
    before: Value = None
    after: Value = None
    within_last: Duration | None = None
    within_next: Duration | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Self:
        _exactly_one(self, self.operators)
        return self

    @property
    def operator(self) -> tuple[str, Any]:
        """Return the one ``(operator, operand)`` this leaf applies."""
        for op in self.operators:
            if _field_name(op) in self.model_fields_set:
                return op, getattr(self, _field_name(op))
        raise AssertionError("validated leaf without an operator")  # pragma: no cover


class Comparison(Operators):
    """A numeric test such as ``{gte: 2}``, used by ``count`` and ``score``."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})
    operators: ClassVar[tuple[str, ...]] = COUNT_OPERATORS

    @model_validator(mode="after")
    def _numbers(self) -> Self:
        op, operand = self.operator
        for value in operand if op == "between" else (operand,):
            if isinstance(value, Ref) or (
                isinstance(value, int | float) and not isinstance(value, bool)
            ):
                continue
            raise PydanticCustomError(
                "E112",
                "{op} compares a count or score with a number, found {found}",
                {"op": op, "found": repr(value)},
            )
        return self


class AttrLeaf(Operators):
    """Compare a contact attribute: ``{attr: lifecycle_stage, in: [customer, sql]}``."""

    model_config = ConfigDict(json_schema_extra=_ONE_OPERATOR)
    tag: ClassVar[str | None] = "cond:attr"
    attr: AttrPath


class PropLeaf(Operators):
    """Compare a property of the event being matched: ``{prop: cart_value, gte: 20}``."""

    model_config = ConfigDict(json_schema_extra=_ONE_OPERATOR)
    tag: ClassVar[str | None] = "cond:prop"
    prop: AttrPath


class EntryLeaf(Operators):
    """Compare a field of the entry event (or, for date triggers, the entry snapshot)."""

    model_config = ConfigDict(json_schema_extra=_ONE_OPERATOR)
    tag: ClassVar[str | None] = "cond:entry"
    entry: AttrPath


class EventLeaf(SpecModel):
    """Did an event happen: ``{event: order_completed, within: 3d, count: {gte: 1}}``."""

    tag: ClassVar[str | None] = "cond:event"
    event: Name
    within: Duration | None = None
    count: Comparison | None = None
    where: Condition | None = None
    since: Literal["entry"] | None = None


class EmailLeaf(SpecModel):
    """Email engagement: ``{email: opened, step: welcome}``; bot opens and clicks are ignored."""

    tag: ClassVar[str | None] = "cond:email"
    email: EmailActivity
    step: Name | None = None
    steps: tuple[Name, ...] | None = None
    template: Name | None = None
    within: Duration | None = None
    human: bool = True

    @model_validator(mode="after")
    def _one_filter(self) -> Self:
        given = [k for k in ("step", "steps", "template") if k in self.model_fields_set]
        if len(given) > 1:
            raise PydanticCustomError(
                "E408",
                "use one of step, steps or template, not {both}",
                {"both": " and ".join(given)},
            )
        return self

    @property
    def step_names(self) -> tuple[str, ...]:
        """Return the send steps this leaf is about (empty: any send)."""
        if self.step is not None:
            return (self.step,)
        return self.steps or ()


class SegmentLeaf(SpecModel):
    """Is the contact in a segment: ``{segment: trial_users}``."""

    tag: ClassVar[str | None] = "cond:segment"
    segment: Name


class TagLeaf(SpecModel):
    """Does the contact carry a tag: ``{tag: vip}``."""

    tag: ClassVar[str | None] = "cond:tag"
    tag_: Name = Field(alias="tag")


class ListLeaf(SpecModel):
    """Is the contact on a static list: ``{list: seminar-2026-03}`` (the list's key)."""

    tag: ClassVar[str | None] = "cond:list"
    list_: Name = Field(alias="list")


class SubscribedLeaf(SpecModel):
    """Is the contact subscribed to a topic: ``{subscribed: marketing_email}``."""

    tag: ClassVar[str | None] = "cond:subscribed"
    subscribed: Name


class ScoreLeaf(SpecModel):
    """Compare a lead score: ``{score: {gte: 50}, model: default}``."""

    tag: ClassVar[str | None] = "cond:score"
    score: Comparison
    model: Name = "default"


class RfmLeaf(SpecModel):
    """Is the customer in an RFM class: ``{rfm: champions}`` or ``{rfm: [at_risk, lost]}``."""

    tag: ClassVar[str | None] = "cond:rfm"
    rfm: tuple[RfmClass, ...]

    @field_validator("rfm", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("rfm")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise PydanticCustomError("E112", "'rfm' needs at least one class")
        return value


class AllOf(SpecModel):
    """Every condition holds."""

    tag: ClassVar[str | None] = "cond:all"
    all: tuple[Condition, ...]

    @field_validator("all")
    @classmethod
    def _not_empty(cls, value: tuple[Condition, ...]) -> tuple[Condition, ...]:
        if not value:
            raise PydanticCustomError("E112", "'all' needs at least one condition")
        return value


class AnyOf(SpecModel):
    """At least one condition holds."""

    tag: ClassVar[str | None] = "cond:any"
    any: tuple[Condition, ...]

    @field_validator("any")
    @classmethod
    def _not_empty(cls, value: tuple[Condition, ...]) -> tuple[Condition, ...]:
        if not value:
            raise PydanticCustomError("E112", "'any' needs at least one condition")
        return value


class NotOf(SpecModel):
    """The condition does not hold."""

    tag: ClassVar[str | None] = "cond:not"
    not_: Condition = Field(alias="not")


_KINDS: tuple[type[SpecModel], ...] = (
    AllOf, AnyOf, NotOf, AttrLeaf, PropLeaf, EntryLeaf, EventLeaf, EmailLeaf,
    SegmentLeaf, TagLeaf, SubscribedLeaf, ScoreLeaf, RfmLeaf, ListLeaf,
)  # fmt: skip
CONDITION_KEYS: tuple[str, ...] = tuple(str(k.tag).removeprefix("cond:") for k in _KINDS)
CONDITION_TAGS: frozenset[str] = frozenset(str(k.tag) for k in _KINDS)


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, SpecModel):
        return value.tag
    if isinstance(value, dict):
        for key in CONDITION_KEYS:
            if key in value:
                return f"cond:{key}"
    return None


Condition = Annotated[
    Annotated[AllOf, Tag("cond:all")]
    | Annotated[AnyOf, Tag("cond:any")]
    | Annotated[NotOf, Tag("cond:not")]
    | Annotated[AttrLeaf, Tag("cond:attr")]
    | Annotated[PropLeaf, Tag("cond:prop")]
    | Annotated[EntryLeaf, Tag("cond:entry")]
    | Annotated[EventLeaf, Tag("cond:event")]
    | Annotated[EmailLeaf, Tag("cond:email")]
    | Annotated[SegmentLeaf, Tag("cond:segment")]
    | Annotated[TagLeaf, Tag("cond:tag")]
    | Annotated[SubscribedLeaf, Tag("cond:subscribed")]
    | Annotated[ScoreLeaf, Tag("cond:score")]
    | Annotated[RfmLeaf, Tag("cond:rfm")]
    | Annotated[ListLeaf, Tag("cond:list")],
    Discriminator(
        _condition_kind,
        custom_error_type="condition_kind",
        custom_error_message="expected a condition",
    ),
]
"""Any node of the condition AST."""

for _kind in _KINDS:
    _kind.model_rebuild()


def iter_conditions(
    condition: Condition, path: Path, *, event_scope: bool = False
) -> Iterator[tuple[Condition, Path, bool]]:
    """Yield every node under ``condition`` with its path and whether event ``prop``s apply."""
    yield condition, path, event_scope
    if isinstance(condition, AllOf):
        for i, child in enumerate(condition.all):
            yield from iter_conditions(child, (*path, "all", i), event_scope=event_scope)
    elif isinstance(condition, AnyOf):
        for i, child in enumerate(condition.any):
            yield from iter_conditions(child, (*path, "any", i), event_scope=event_scope)
    elif isinstance(condition, NotOf):
        yield from iter_conditions(condition.not_, (*path, "not"), event_scope=event_scope)
    elif isinstance(condition, EventLeaf) and condition.where is not None:
        yield from iter_conditions(condition.where, (*path, "where"), event_scope=True)


def iter_refs(leaf: Operators, path: Path) -> Iterator[tuple[Ref, Path]]:
    """Yield every ``{ref: …}`` operand of a value leaf with its path."""
    op, operand = leaf.operator
    items = operand if isinstance(operand, tuple) else (operand,)
    for i, item in enumerate(items):
        if isinstance(item, Ref):
            sub = (*path, op) if not isinstance(operand, tuple) else (*path, op, i)
            yield item, sub
