"""Validation like a compiler: every finding at once, each with its place.

The loader reports schema problems (E1xx). This module runs each step kind's own
checks and the header's; ``condition_checks`` and ``flow_checks`` add references
(E2xx), graph problems (E3xx), semantics (E4xx, W4xx) and publishing rules (E5xx).
Whatever is well-formed is checked even when other parts are not, so one run
shows as much as it can.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from engine.journey.catalog import Catalog, unknown_name
from engine.journey.condition_checks import ConditionChecks, date_attribute
from engine.journey.diagnostics import Diagnostic, Finding, Path, did_you_mean, format_all, to_json
from engine.journey.flow_checks import check_graph, check_migrate, check_senders
from engine.journey.loader import LoadResult, load_journey
from engine.journey.source_map import SourceMap
from engine.journey.spec import JourneySpec
from engine.journey.steps import SendEmailStep, Step, StepContext, WaitStep
from engine.journey.steps.wait import UntilAttribute
from engine.journey.triggers import DateTrigger, EventTrigger, ScheduleTrigger, SegmentTrigger


@dataclass(frozen=True, slots=True)
class Report:
    """Everything found in one journey file; ``spec`` is set only when there is no error."""

    filename: str
    spec: JourneySpec | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        """Say whether the journey may be published (warnings allowed)."""
        return not self.errors

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """Return the error-level findings."""
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Return the warning-level findings."""
        return tuple(d for d in self.diagnostics if d.severity == "warning")

    def format(self) -> str:
        """Render every finding compiler-style, one per line."""
        return format_all(self.diagnostics)

    def to_json(self) -> list[dict[str, str | int]]:
        """Return every finding as JSON-ready dicts."""
        return to_json(self.diagnostics)


def validate_journey(
    text: str,
    filename: str = "journey.yaml",
    catalog: Catalog | None = None,
    *,
    previous: JourneySpec | None = None,
) -> Report:
    """Load and fully check a journey; ``previous`` is the active version, if any (E5xx)."""
    loaded = load_journey(text, filename)
    findings = check_loaded(loaded, catalog or Catalog(), previous=previous)
    # A bare yes/no explains whatever else goes wrong at its place ("unknown step 'yes'").
    yaml11 = {d.path for d in loaded.diagnostics if d.code == "E104"}
    placed = [
        d for d in (loaded.source_map.place(f, filename) for f in findings) if d.path not in yaml11
    ]
    diagnostics = tuple(sorted({*loaded.diagnostics, *placed}, key=_order))
    ok = not any(d.severity == "error" for d in diagnostics)
    return Report(filename, loaded.spec if ok else None, diagnostics)


def check_spec(
    spec: JourneySpec,
    catalog: Catalog | None = None,
    *,
    previous: JourneySpec | None = None,
    filename: str = "journey",
) -> list[Diagnostic]:
    """Check a spec built elsewhere (from stored JSON); positions are unknown, so all read 1:1."""
    loaded = LoadResult(
        filename,
        spec,
        (),
        SourceMap(),
        header=spec,
        steps=dict(spec.steps),
        step_names=frozenset(spec.steps),
    )
    findings = check_loaded(loaded, catalog or Catalog(), previous=previous)
    return [SourceMap().place(f, filename) for f in findings]


def check_loaded(
    loaded: LoadResult, catalog: Catalog, *, previous: JourneySpec | None = None
) -> list[Finding]:
    """Run every check the well-formed parts of ``loaded`` allow; return the findings."""
    header = loaded.header
    names = loaded.step_names
    conditions = ConditionChecks(
        catalog=catalog,
        entry_allowed=_entry_allowed(header) if header else None,
        step_names=names,
        send_steps=frozenset(n for n, s in loaded.steps.items() if isinstance(s, SendEmailStep))
        if loaded.spec
        else None,
    )
    findings: list[Finding] = []
    if header is not None:
        findings += _check_header(header, catalog, conditions)
    goal_ids = frozenset(g.id for g in header.goals) if header else None
    context = StepContext(step_names=names, catalog=catalog, goal_ids=goal_ids)
    for name, step in loaded.steps.items():
        findings += _check_step(name, step, context, conditions)
    if loaded.spec is not None:
        findings += check_graph(loaded.spec)
        findings += check_senders(loaded.spec)
        findings += check_migrate(loaded.spec, previous)
    return _unique(findings)


def _order(d: Diagnostic) -> tuple[int, int, str, str]:
    return (d.line, d.col, d.code, d.message)


def _unique(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


def _entry_allowed(header: JourneySpec) -> bool:
    return all(isinstance(t, EventTrigger | DateTrigger) for t in header.triggers)


def _check_header(
    spec: JourneySpec, catalog: Catalog, conditions: ConditionChecks
) -> Iterator[Finding]:
    for i, trigger in enumerate(spec.triggers):
        at: Path = ("triggers", i)
        if isinstance(trigger, EventTrigger) and trigger.where is not None:
            yield from conditions.check(trigger.where, (*at, "where"), event_scope=True)
        elif isinstance(trigger, SegmentTrigger):
            found = unknown_name(
                catalog.segments,
                trigger.segment,
                code="E203",
                path=(*at, "segment"),
                what="segment",
            )
            yield from (found,) if found else ()
        elif isinstance(trigger, DateTrigger):
            yield from date_attribute(catalog, trigger.date.attribute, (*at, "date", "attribute"))
        elif isinstance(trigger, ScheduleTrigger) and spec.audience is None:
            yield Finding(
                "E407",
                (*at, "schedule"),
                "a schedule trigger enrolls the 'audience', which is missing",
            )
    if spec.audience is not None:
        yield from conditions.check(spec.audience, ("audience",), event_scope=False)
    for i, condition in enumerate(spec.exit_when):
        yield from conditions.check(condition, ("exit_when", i), event_scope=False)
    seen: set[str] = set()
    for i, goal in enumerate(spec.goals):
        if goal.id in seen:
            yield Finding("E113", ("goals", i, "id"), f"goal '{goal.id}' is declared twice")
        seen.add(goal.id)
        yield from conditions.check(goal.when, ("goals", i, "when"), event_scope=False)
    defaults = spec.defaults.send_email if spec.defaults else None
    if defaults is not None and defaults.topic is not None:
        found = unknown_name(
            catalog.topics,
            defaults.topic,
            code="E204",
            path=("defaults", "send_email", "topic"),
            what="topic",
        )
        yield from (found,) if found else ()
    if spec.send_window is not None and spec.send_window.end <= spec.send_window.start:
        yield Finding("E408", ("send_window", "end"), "the send window must end after it starts")


def _check_step(
    name: str, step: Step, context: StepContext, conditions: ConditionChecks
) -> Iterator[Finding]:
    at: Path = ("steps", name)
    yield from step.check(context, at)
    for condition, sub, event_scope in step.conditions():
        yield from conditions.check(condition, (*at, *sub), event_scope=event_scope)
    for exit_ in step.exits():
        if exit_.target is not None and exit_.target not in context.step_names:
            yield Finding(
                "E201",
                (*at, *exit_.path),
                f"unknown step '{exit_.target}'{did_you_mean(exit_.target, context.step_names)}",
            )
    if isinstance(step, WaitStep) and isinstance(step.until, UntilAttribute):
        yield from date_attribute(
            context.catalog, step.until.attribute, (*at, "until", "attribute")
        )
