"""Checks that need the whole journey: the step graph, send order, cooldown, senders, migrate."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

from engine.journey.conditions import EmailLeaf, iter_conditions
from engine.journey.diagnostics import Finding, did_you_mean
from engine.journey.durations import format_duration
from engine.journey.graph import (
    always_after,
    can_reach,
    cycles_avoiding,
    longest_delay,
    reachable,
    reversed_graph,
    sends_before,
)
from engine.journey.spec import JourneySpec
from engine.journey.steps import SendEmailStep


def check_graph(spec: JourneySpec) -> Iterator[Finding]:
    steps = spec.steps
    if spec.start not in steps:
        yield Finding(
            "E201", ("start",), f"unknown step '{spec.start}'{did_you_mean(spec.start, steps)}"
        )
    graph = {
        name: tuple(e.target for e in step.exits() if e.target is not None and e.target in steps)
        for name, step in steps.items()
    }
    open_ended: set[str] = set()
    for name, step in steps.items():
        for exit_ in step.exits():
            if exit_.target is None:
                open_ended.add(name)
                yield Finding(
                    "E302",
                    ("steps", name, *exit_.path),
                    f"step '{name}' has no '{'.'.join(map(str, exit_.path))}'; "
                    "every step but 'exit' must say where contacts go next",
                )
            elif exit_.target not in steps:
                open_ended.add(name)  # already E201; don't also call it a dead end
    order = {name: i for i, name in enumerate(steps)}
    for component in cycles_avoiding(graph, {n for n, s in steps.items() if s.waits}):
        ring = sorted(component, key=order.__getitem__)
        yield Finding(
            "E304",
            ("steps", ring[0]),
            f"steps {' → '.join([*ring, ring[0]])} form a loop with no wait or wait_for; "
            "contacts would spin without pause",
            at_key=True,
        )
    if spec.start not in steps:
        return
    live = reachable(graph, spec.start)
    # A misspelt exit (E201) would make everything behind it "unreachable". Follow it
    # to the step it was probably meant to name, and say nothing when there is none.
    guessed = {
        name: tuple(_guess(e.target, steps) for e in step.exits()) for name, step in steps.items()
    }
    seen = reachable({n: tuple(t for t in ts if t) for n, ts in guessed.items()}, spec.start)
    guessable = all(t is not None for ts in guessed.values() for t in ts)
    for name in steps:
        if name not in seen and guessable:
            yield Finding(
                "E301",
                ("steps", name),
                f"step '{name}' is never reached from start '{spec.start}'",
                at_key=True,
            )
    ends = {n for n, s in steps.items() if s.terminal} | open_ended
    trapped = live - can_reach(graph, ends)
    preds = reversed_graph(graph)
    for name in steps:
        if name in trapped and (
            name == spec.start or any(p not in trapped for p in preds[name] if p in live)
        ):
            yield Finding(
                "E303",
                ("steps", name),
                f"no path from step '{name}' reaches an exit step",
                at_key=True,
            )
    yield from _check_email_order(spec, graph, live)
    yield from _check_cooldown(spec, graph)


def _check_email_order(
    spec: JourneySpec, graph: Mapping[str, tuple[str, ...]], live: set[str]
) -> Iterator[Finding]:
    sends = {n: s for n, s in spec.steps.items() if isinstance(s, SendEmailStep)}
    before: dict[str, frozenset[str]] | None = None  # solved once, on the first email leaf
    cache: dict[frozenset[str], set[str]] = {}
    for name, step in spec.steps.items():
        if name not in live:
            continue
        for condition, sub, scope in step.conditions():
            for node, at, _ in iter_conditions(condition, ("steps", name, *sub), event_scope=scope):
                if not isinstance(node, EmailLeaf) or node.email == "unsubscribed":
                    continue
                if node.step_names:
                    marks = frozenset(n for n in node.step_names if n in sends)
                    if len(marks) != len(node.step_names):
                        continue  # E201/E208 already
                elif node.template is not None:
                    marks = frozenset(
                        n for n, s in sends.items() if node.template in dict(s.templates())
                    )
                else:
                    marks = frozenset(sends)
                if before is None:
                    before = sends_before(graph, spec.start, sends)
                sent = not marks.isdisjoint(before[name])
                if not sent and len(marks) > 1:
                    # No one mark is on every path, but each path may pass one or another
                    # ("a or b"): that needs a walk, once per set of marks (linear).
                    if marks not in cache:
                        cache[marks] = always_after(graph, spec.start, marks)
                    sent = name in cache[marks]
                if not sent:
                    named = (
                        " or ".join(f"'{m}'" for m in sorted(marks))
                        if node.step_names or node.template
                        else "send_email"
                    )
                    yield Finding(
                        "E404",
                        (*at, "email"),
                        f"'email: {node.email}' needs a {named} step before '{name}' on every path "
                        "from start; on some path nothing was sent yet",
                    )


def _check_cooldown(spec: JourneySpec, graph: Mapping[str, tuple[str, ...]]) -> Iterator[Finding]:
    cooldown = spec.entry.cooldown
    if cooldown is None or spec.entry.concurrent == "per_key" or spec.entry.reentry == "never":
        return
    longest = longest_delay(graph, spec.start, {n: s.delay() for n, s in spec.steps.items()})
    if longest is not None and cooldown < longest:
        yield Finding(
            "W401",
            ("entry", "cooldown"),
            f"cooldown {format_duration(cooldown)} is shorter than the longest timed path "
            f"({format_duration(longest)}); a contact can trigger again while still enrolled",
        )


def check_senders(spec: JourneySpec) -> Iterator[Finding]:
    defaults = spec.defaults.send_email if spec.defaults else None
    if defaults is not None and defaults.from_ is not None:
        return
    for name, step in spec.steps.items():
        if isinstance(step, SendEmailStep) and step.from_ is None:
            yield Finding(
                "E411",
                ("steps", name),
                "no sender: set 'from' on the step or 'defaults.send_email.from'",
                at_key=True,
            )


def check_migrate(spec: JourneySpec, previous: JourneySpec | None) -> Iterator[Finding]:
    migrate: Mapping[str, str] = spec.migrate or {}
    for old, new in migrate.items():
        if new not in spec.steps:
            yield Finding(
                "E201", ("migrate", old), f"unknown step '{new}'{did_you_mean(new, spec.steps)}"
            )
    if previous is None:
        return
    for name in previous.steps:
        if name not in spec.steps and name not in migrate:
            yield Finding(
                "E501",
                ("migrate",) if spec.migrate is not None else ("steps",),
                f"step '{name}' of version {previous.version} is gone; map it under 'migrate' "
                "so contacts waiting there know where to go",
                at_key=True,
            )


def _guess(target: str | None, steps: Mapping[str, object]) -> str | None:
    """Return the step ``target`` names or most likely meant (None: missing or no idea)."""
    if target is None or target in steps:
        return target
    close = difflib.get_close_matches(target, list(steps), n=1, cutoff=0.6)
    return close[0] if close else None
