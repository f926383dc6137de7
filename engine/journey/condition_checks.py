"""Reference and type checks for conditions, wherever a journey uses them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from engine.journey.catalog import AttributeType, Catalog, unknown_name
from engine.journey.conditions import (
    AttrLeaf,
    Condition,
    EmailLeaf,
    EntryLeaf,
    Operators,
    PropLeaf,
    SegmentLeaf,
    SubscribedLeaf,
    iter_conditions,
    iter_refs,
)
from engine.journey.diagnostics import Finding, Path, did_you_mean

DATE_TYPES: frozenset[AttributeType] = frozenset({"date", "datetime"})
_OPERATOR_TYPES: Mapping[str, frozenset[AttributeType]] = {
    "gt": frozenset({"number", "date", "datetime", "string"}),
    "gte": frozenset({"number", "date", "datetime", "string"}),
    "lt": frozenset({"number", "date", "datetime", "string"}),
    "lte": frozenset({"number", "date", "datetime", "string"}),
    "between": frozenset({"number", "date", "datetime", "string"}),
    "before": DATE_TYPES,
    "after": DATE_TYPES,
    "within_last": DATE_TYPES,
    "within_next": DATE_TYPES,
    "contains": frozenset({"string", "list"}),
    "starts_with": frozenset({"string"}),
}


def attribute_type(known: Mapping[str, AttributeType], path: str) -> AttributeType | None:
    """Return the type of ``path``; "object" when it sits inside an object attribute."""
    if path in known:
        return known[path]
    parts = path.split(".")
    for n in range(len(parts) - 1, 0, -1):
        if known.get(".".join(parts[:n])) == "object":
            return "object"
    return None


@dataclass(frozen=True, slots=True)
class ConditionChecks:
    """Reference and type checks for conditions wherever they appear."""

    catalog: Catalog
    entry_allowed: bool | None
    step_names: frozenset[str]
    send_steps: frozenset[str] | None

    def check(self, condition: Condition, path: Path, *, event_scope: bool) -> Iterator[Finding]:
        """Yield findings for every node under ``condition``."""
        for node, at, in_event in iter_conditions(condition, path, event_scope=event_scope):
            if isinstance(node, Operators):
                yield from self._value_leaf(node, at, in_event)
            elif isinstance(node, SegmentLeaf):
                found = unknown_name(
                    self.catalog.segments,
                    node.segment,
                    code="E203",
                    path=(*at, "segment"),
                    what="segment",
                )
                yield from (found,) if found else ()
            elif isinstance(node, SubscribedLeaf):
                found = unknown_name(
                    self.catalog.topics,
                    node.subscribed,
                    code="E204",
                    path=(*at, "subscribed"),
                    what="topic",
                )
                yield from (found,) if found else ()
            elif isinstance(node, EmailLeaf):
                yield from self._email_leaf(node, at)

    def _value_leaf(self, leaf: Operators, at: Path, in_event: bool) -> Iterator[Finding]:
        if isinstance(leaf, PropLeaf) and not in_event:
            yield Finding(
                "E409",
                (*at, "prop"),
                "'prop' reads the properties of an event, so it only works inside a trigger's "
                "or event's 'where' or a wait_for 'match'; use 'attr' for the contact",
            )
        if isinstance(leaf, EntryLeaf) and self.entry_allowed is False:
            yield _entry_finding((*at, "entry"))
        if isinstance(leaf, AttrLeaf):
            yield from self._attribute(leaf.attr, (*at, "attr"), leaf.operator[0])
        for ref, ref_at in iter_refs(leaf, at):
            if ref.scope == "entry" and self.entry_allowed is False:
                yield _entry_finding(ref_at)
            elif ref.scope == "contact":
                yield from self._attribute(ref.path, ref_at, None)

    def _attribute(self, attribute: str, at: Path, operator: str | None) -> Iterator[Finding]:
        known = self.catalog.attributes
        if known is None:
            return
        kind = attribute_type(known, attribute)
        if kind is None:
            yield Finding(
                "E210",
                at,
                f"unknown contact attribute '{attribute}'{did_you_mean(attribute, known)}",
            )
        elif (
            operator is not None
            and operator in _OPERATOR_TYPES
            and kind != "object"
            and kind not in _OPERATOR_TYPES[operator]
        ):
            yield Finding(
                "E410", at, f"'{operator}' does not apply to '{attribute}', which is a {kind}"
            )

    def _email_leaf(self, leaf: EmailLeaf, at: Path) -> Iterator[Finding]:
        for i, name in enumerate(leaf.step_names):
            sub = (*at, "step") if leaf.step is not None else (*at, "steps", i)
            if name not in self.step_names:
                yield Finding(
                    "E201", sub, f"unknown step '{name}'{did_you_mean(name, self.step_names)}"
                )
            elif self.send_steps is not None and name not in self.send_steps:
                yield Finding("E208", sub, f"step '{name}' is not a send_email step")
        if leaf.template is not None:
            found = unknown_name(
                self.catalog.templates,
                leaf.template,
                code="E202",
                path=(*at, "template"),
                what="template",
            )
            yield from (found,) if found else ()


def _entry_finding(path: Path) -> Finding:
    return Finding(
        "E207",
        path,
        "'entry' refers to the entry event, which only event and date triggers provide; "
        "this journey also has segment or schedule triggers",
    )


def date_attribute(catalog: Catalog, attribute: str, at: Path) -> Iterator[Finding]:
    known = catalog.attributes
    if known is None:
        return
    kind = attribute_type(known, attribute)
    if kind is None:
        yield Finding(
            "E210", at, f"unknown contact attribute '{attribute}'{did_you_mean(attribute, known)}"
        )
    elif kind not in DATE_TYPES and kind != "object":
        yield Finding("E406", at, f"'{attribute}' is a {kind}, not a date or datetime")
