"""``nurture journeys simulate|test|new|docs``: try journeys on a virtual clock, before contacts do.

Functions only; ``cli/journeys.py`` registers them. This face reads files (the
journey, CONTACT.json, events lines, scenario files) and prints; the simulation
itself is the pure ``engine.journey.simulation``. Imports of the journey core stay
inside the functions: it builds its models on import.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from engine.journey import (
        ContactView,
        EventRecord,
        Expectation,
        JourneySpec,
        Simulation,
        TimelineEntry,
    )

SCENARIO_SUFFIX = ".test.yaml"
"""Scenario files end so, next to the journeys or under ``journeys/tests/``."""
TEMPLATES = ("welcome", "b2b", "cart", "renewal")
DOCS_PATH = Path("docs") / "journeys.md"


class InputError(Exception):
    """Raised when an input file is wrong; the message names the file (and line)."""


# --- simulate -----------------------------------------------------------------------------


def simulate(
    file: Annotated[Path, typer.Argument(help="The journey YAML file.")],
    contact: Annotated[
        Path,
        typer.Option("--contact", help="CONTACT.json: the contact's fields and 'attributes'."),
    ],
    events: Annotated[
        Path | None,
        typer.Option(
            "--events", help='EVENTS.jsonl: one {"type", "occurred_at", "properties"} per line.'
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--start", help="ISO-8601 start of the virtual clock (default: first event)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="ISO-8601 end, or a duration after the start (default 90d)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the timeline as a JSON array on stdout.")
    ] = False,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Say why: conditions, caps, consent, steps never reached."),
    ] = False,
) -> None:
    """Run a journey for one contact on a virtual clock and print what happens when."""
    from engine.errors import InvalidInput
    from engine.journey import simulate_journey
    from engine.journey.simulation import default_start, parse_instant, parse_until

    spec = _load_spec(file)
    try:
        view, contact_id = read_contact(contact)
        happenings = read_events(events) if events is not None else []
        begin = (
            parse_instant(start, "--start")
            if start is not None
            else default_start(spec, view, happenings)
        )
        end = parse_until(until, begin)
    except (InputError, InvalidInput) as error:
        _input_error(str(error) if isinstance(error, InputError) else error.message)
    result = simulate_journey(
        spec, view, happenings, begin, end, contact_id=contact_id, explain=explain
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    _print_timeline(result, explain=explain)


def read_contact(path: Path) -> tuple[ContactView, str]:
    """Read CONTACT.json; raise ``InputError`` naming the file (and line for bad JSON)."""
    from engine.errors import InvalidInput
    from engine.journey import contact_from_json

    text = _read(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}"
        ) from None
    try:
        return contact_from_json(data)
    except InvalidInput as error:
        raise InputError(f"{path}: {error.message}") from None


def read_events(path: Path) -> list[EventRecord]:
    """Read EVENTS.jsonl (blank lines skipped); raise ``InputError`` naming file and line."""
    from engine.errors import InvalidInput
    from engine.journey import event_from_json

    found = []
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{number}:{error.colno}: invalid JSON: {error.msg}") from None
        try:
            found.append(event_from_json(data, f"{path}:{number}"))
        except InvalidInput as error:
            raise InputError(error.message) from None
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InputError(f"{path}: cannot read: {reason}") from None


def _load_spec(path: Path) -> JourneySpec:
    """Validate the journey (templates and segments unchecked); exit 1 with its findings."""
    from engine.journey import validate_journey

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        _input_error(f"{path}: cannot read: {error}")
    report = validate_journey(text, str(path))
    for diagnostic in report.diagnostics:
        typer.echo(diagnostic.format(), err=True)
    if report.spec is None:
        typer.echo(f"error: {path} has errors; fix them before simulating", err=True)
        raise typer.Exit(1)
    return report.spec


def _input_error(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _print_timeline(result: Simulation, *, explain: bool) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    zone = result.zone.key
    console.print(
        f"[bold]{result.journey_id}[/]: {result.enrollments} enrollment"
        f"{'s' * (result.enrollments != 1)}, {len(result.entries)} entries, "
        f"{result.start.astimezone(result.zone):%Y-%m-%d %H:%M} → "
        f"{result.until.astimezone(result.zone):%Y-%m-%d %H:%M} ({zone})"
    )
    console.print(timeline_table(result, explain=explain))
    if result.truncated:
        console.print("[yellow]stopped early: the simulation reached its call cap[/]")


def timeline_table(result: Simulation, *, explain: bool = False) -> Table:
    """Return the timeline as a Rich table: local time, UTC, step, action, detail."""
    from rich.table import Table

    table = Table(f"local ({result.zone.key})", "UTC", "step", "action", "detail")
    for entry in result.entries:
        table.add_row(
            entry.local.strftime("%Y-%m-%d %a %H:%M"),
            entry.at.strftime("%m-%d %H:%M"),
            entry.step,
            entry.action,
            summary(entry, explain=explain),
        )
    return table


def summary(entry: TimelineEntry, *, explain: bool = False) -> str:
    """Say in one short text what an entry did (plus the reasons when explaining)."""
    d = entry.detail
    text: str
    if entry.action == "send_email":
        text = f"{d.get('template')}: {d.get('preview') or d.get('subject')}"
    elif entry.action == "wait":
        until = d.get("until")
        shown = until.astimezone(entry.zone).strftime("%Y-%m-%d %H:%M") if until else "an event"
        text = f"until {shown}" + (f" for '{d['event']}'" if d.get("event") else "")
        if d.get("reason"):
            text += f" ({str(d['reason']).replace('_', ' ')})"
    elif entry.action == "branch":
        text = f"→ {d.get('to')}: {d.get('why', '')}"
    elif entry.action in ("skip", "exit"):
        text = f"{d.get('reason', '')}: {d.get('why', '')}"
    elif entry.action == "goal":
        text = f"goal '{d.get('goal')}'"
    else:
        text = str(d.get("why", ""))
    if explain:
        for item in d.get("explain", ()):
            if isinstance(item, Mapping):
                mark = "✓" if item.get("holds") else "✗"
                negated = "not " if item.get("negated") else ""
                case = f"case {item['case']}: " if "case" in item else ""
                why = f" — {item['why']}" if item.get("why") else ""
                text += f"\n  {mark} {case}{negated}{item.get('condition')}{why}"
            else:
                text += f"\n  {item}"
    return text


# --- scenarios ----------------------------------------------------------------------------


@dataclass(slots=True)
class Scenario:
    """One simulation with expected outcomes, read from a scenario file."""

    file: Path
    name: str
    line: int
    journey: Path | None = None
    contact: Any = None
    events: list[Any] = field(default_factory=list)
    start: Any = None
    until: Any = None
    expect: list[tuple[int, Any]] = field(default_factory=list)
    expect_not: list[tuple[int, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What running one scenario gave: passed, and the problems when not."""

    scenario: Scenario
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """Say whether every expectation held."""
        return not self.problems


SCENARIO_KEYS = frozenset(
    {"journey", "name", "contact", "events", "start", "until", "expect", "expect_not"}
)


def find_scenarios(paths: list[Path]) -> list[Path]:
    """Return the scenario files named, or found (recursively) in the folders named."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob(f"*{SCENARIO_SUFFIX}") if p.is_file())
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def load_scenarios(path: Path) -> list[Scenario]:
    """Read one scenario file: a scenario, or shared keys plus a ``scenarios`` list.

    A file that cannot be read yields one scenario carrying the error.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        document = YAML(typ="rt", pure=True).load(_read(path))
    except InputError as error:
        return [Scenario(path, path.name, 1, error=str(error))]
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        return [Scenario(path, path.name, 1, error=f"{where}: invalid YAML: {problem}")]
    if not isinstance(document, Mapping):
        return [Scenario(path, path.name, 1, error=f"{path}:1: a scenario file is a mapping")]
    shared = {k: v for k, v in document.items() if k != "scenarios"}
    items = document.get("scenarios")
    if items is None:
        return [_scenario(path, document, {}, 1, path.name.removesuffix(SCENARIO_SUFFIX))]
    if not isinstance(items, list) or not items:
        line = _line(document, "scenarios")
        return [Scenario(path, path.name, line, error=f"{path}:{line}: 'scenarios' is a list")]
    return [
        _scenario(path, item, shared, _item_line(items, i), f"scenario {i + 1}")
        for i, item in enumerate(items)
    ]


def _scenario(
    path: Path, node: Any, shared: Mapping[str, Any], line: int, fallback: str
) -> Scenario:
    if not isinstance(node, Mapping):
        return Scenario(path, fallback, line, error=f"{path}:{line}: a scenario is a mapping")
    merged = {**shared, **node}
    name = str(merged.get("name") or fallback)
    scenario = Scenario(path, name, line)
    unknown = sorted(set(merged) - SCENARIO_KEYS)
    if unknown:
        where = _line(node, unknown[0]) if unknown[0] in node else _line(shared, unknown[0])
        scenario.error = (
            f"{path}:{where}: unknown key {', '.join(map(repr, unknown))} "
            f"(use {', '.join(sorted(SCENARIO_KEYS))})"
        )
        return scenario
    journey = merged.get("journey")
    if not isinstance(journey, str):
        scenario.error = f"{path}:{line}: 'journey' (the journey file) is missing"
        return scenario
    scenario.journey = _journey_path(path, journey)
    scenario.contact = _plain(merged.get("contact") or {})
    events = merged.get("events") or []
    if not isinstance(events, list):
        scenario.error = f"{path}:{_line(node, 'events')}: 'events' is a list"
        return scenario
    scenario.events = _plain(events)
    scenario.start = _plain(merged.get("start"))
    scenario.until = _plain(merged.get("until"))
    for key in ("expect", "expect_not"):
        listed = merged.get(key) or []
        if not isinstance(listed, list):
            scenario.error = f"{path}:{line}: '{key}' is a list"
            return scenario
        owner = node if key in node else shared
        lines = [_item_line(owner.get(key), i) for i in range(len(listed))]
        setattr(scenario, key, list(zip(lines, _plain(listed), strict=True)))
    if not scenario.expect and not scenario.expect_not:
        scenario.error = f"{path}:{line}: scenario '{name}' expects nothing (add 'expect')"
    return scenario


def _journey_path(scenario: Path, journey: str) -> Path:
    for base in (scenario.parent, scenario.parent.parent):
        candidate = base / journey
        if candidate.is_file():
            return candidate
    return scenario.parent / journey


def run_scenario(scenario: Scenario) -> Outcome:
    """Simulate one scenario and check its expectations."""
    from engine.errors import InvalidInput
    from engine.journey import (
        check_expectations,
        contact_from_json,
        event_from_json,
        simulate_journey,
        validate_journey,
    )
    from engine.journey.simulation import default_start, parse_instant, parse_until

    if scenario.error is not None:
        return Outcome(scenario, (scenario.error,))
    assert scenario.journey is not None
    where = f"{scenario.file}:{scenario.line}"
    try:
        text = scenario.journey.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return Outcome(scenario, (f"{where}: cannot read journey {scenario.journey}: {error}",))
    report = validate_journey(text, str(scenario.journey))
    if report.spec is None:
        return Outcome(scenario, (f"{where}: the journey has errors:\n{report.format()}",))
    try:
        expect = [
            _expectation(scenario, line, e, "expect", i)
            for i, (line, e) in enumerate(scenario.expect)
        ]
        expect_not = [
            _expectation(scenario, line, e, "expect_not", i)
            for i, (line, e) in enumerate(scenario.expect_not)
        ]
    except InvalidInput as error:
        return Outcome(scenario, (error.message,))
    try:
        contact, contact_id = contact_from_json(scenario.contact)
        events = [event_from_json(e, f"events[{i}]") for i, e in enumerate(scenario.events)]
        start = (
            parse_instant(scenario.start, "start")
            if scenario.start is not None
            else default_start(report.spec, contact, events)
        )
        until = parse_until(str(scenario.until) if scenario.until is not None else None, start)
    except InvalidInput as error:
        return Outcome(scenario, (f"{where}: {error.message}",))
    simulation = simulate_journey(report.spec, contact, events, start, until, contact_id=contact_id)
    problems = check_expectations(simulation, expect, expect_not)
    return Outcome(scenario, tuple(f"{where}: {p}" for p in problems))


def _expectation(scenario: Scenario, line: int, data: Any, key: str, index: int) -> Expectation:
    from engine.errors import InvalidInput
    from engine.journey import Expectation

    try:
        return Expectation.from_json(data, f"{key}[{index}]")
    except InvalidInput as error:
        raise InvalidInput(f"{scenario.file}:{line}: {error.message}") from None


def run_tests(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Scenario files or folders (default: *.test.yaml under the journeys dir)."
        ),
    ] = None,
) -> None:
    """Run journey scenario files (*.test.yaml) and report each like a test runner."""
    from rich.console import Console

    from cli.runtime import load_settings

    console = Console(highlight=False, soft_wrap=True)
    files = find_scenarios(paths or [load_settings().journeys_dir])
    if not files:
        typer.echo(f"error: no scenario files (*{SCENARIO_SUFFIX}) found", err=True)
        raise typer.Exit(2)
    started = time.perf_counter()
    outcomes = [run_scenario(s) for path in files for s in load_scenarios(path)]
    for outcome in outcomes:
        label = f"{outcome.scenario.file}::{outcome.scenario.name}"
        if outcome.passed:
            console.print(f"{label} [green]PASSED[/]")
        else:
            console.print(f"{label} [bold red]FAILED[/]")
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        console.print(f"\n[bold red]FAILED[/] {outcome.scenario.file}::{outcome.scenario.name}")
        for problem in outcome.problems:
            console.print(f"  {problem}")
    took = time.perf_counter() - started
    passed = len(outcomes) - len(failed)
    tally = f"{passed} passed" + (f", {len(failed)} failed" if failed else "")
    colour = "red" if failed else "green"
    console.print(f"[bold {colour}]{tally}[/] in {took:.2f}s")
    if failed:
        raise typer.Exit(1)


def _plain(value: Any) -> Any:
    """Return YAML data as plain JSON-like Python; dates and date-times become ISO texts."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    for kind in (bool, int, float, str):  # ruamel's scalar subclasses → the plain type
        if isinstance(value, kind):
            return kind(value)
    return value


def _line(node: Any, key: str) -> int:
    try:
        return int(node.lc.key(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return 1


def _item_line(node: Any, index: int) -> int:
    try:
        return int(node.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return 1


# --- new ----------------------------------------------------------------------------------


def new(
    name: Annotated[str, typer.Argument(help="Journey id and file name: lower case and -.")],
    template: Annotated[
        str,
        typer.Option("--template", help="Starting point: welcome, b2b, cart or renewal."),
    ] = "welcome",
) -> None:
    """Scaffold journeys/NAME.yaml from a template that validates; never overwrites."""
    import re

    from cli.runtime import load_settings
    from engine.journey import validate_journey
    from engine.journey.spec import JOURNEY_ID_PATTERN

    if template not in TEMPLATES:
        _input_error(f"unknown template '{template}'; choose from {', '.join(TEMPLATES)}")
    if not re.match(JOURNEY_ID_PATTERN, name):
        _input_error(
            f"'{name}' is not a journey id: 3-64 lower-case letters, digits and -, "
            "starting with a letter"
        )
    folder = load_settings().journeys_dir
    target = folder / f"{name}.yaml"
    if target.exists():
        typer.echo(f"error: {target} already exists; not overwriting it", err=True)
        raise typer.Exit(1)
    text = scaffold(name, template)
    report = validate_journey(text, str(target))
    assert report.ok, report.format()  # the templates are tested; this guards edits
    folder.mkdir(parents=True, exist_ok=True)
    with target.open("x", encoding="utf-8") as handle:
        handle.write(text)
    typer.echo(f"wrote {target} (from the {template} template); next:")
    typer.echo(f"  nurture journeys validate {target}")


def scaffold(name: str, template: str) -> str:
    """Return the text of a new journey ``name`` from one of ``TEMPLATES``."""
    title = name.replace("-", " ").capitalize()
    head = f"dsl: journey/v1\nid: {name}\nname: {title}\nversion: 1\n"
    return head + _SCAFFOLDS[template].format(name=name)


_SCAFFOLDS = {
    "welcome": """\
triggers:
  - event: signed_up
timezone: {{attribute: timezone, fallback: UTC}}
quiet_hours: {{start: "21:00", end: "08:00", on_quiet: defer}}
defaults: {{send_email: {{from: {{name: Acme, email: hello@example.com}}}}}}
exit_when:
  - {{email: unsubscribed}}
start: welcome
steps:
  welcome:
    type: send_email
    template: {name}-welcome
    subject: "Welcome, {{{{ contact.first_name }}}}"
    next: wait_2d
  wait_2d: {{type: wait, duration: 2d, next: opened}}
  opened:
    type: branch
    if: {{email: opened, step: welcome}}
    then: done
    else: nudge
  nudge:
    type: send_email
    template: {name}-nudge
    subject: "Did you see this?"
    next: done
  done: {{type: exit, reason: series complete}}
""",
    "b2b": """\
triggers:
  - event: form_submitted
    where: {{prop: form_id, eq: demo-request}}
audience:
  not: {{attr: lifecycle_stage, in: [customer, sql]}}
entry: {{reentry: after_exit, cooldown: 90d}}
timezone: {{attribute: timezone, fallback: America/New_York}}
send_window: {{days: [mon, tue, wed, thu, fri], start: "08:00", end: "18:00"}}
defaults: {{send_email: {{from: {{name: Acme Team, email: hello@example.com}}}}}}
exit_when:
  - {{attr: lifecycle_stage, in: [customer, sql]}}
start: welcome
steps:
  welcome:
    type: send_email
    template: {name}-welcome
    subject: "Thanks, {{{{ contact.first_name }}}}"
    next: points
  points: {{type: score, adjust: +10, reason: demo form, next: wait_3d}}
  wait_3d: {{type: wait, duration: 3d, next: ready}}
  ready:
    type: branch
    if: {{score: {{gte: 50}}}}
    then: handoff
    else: done
  handoff:
    type: handoff
    assign: {{strategy: account_owner, fallback: {{role: sales-manager}}}}
    task: {{title: "Follow up {{{{ contact.company }}}}", due: 1d}}
    next: done
  done: {{type: exit, reason: nurture complete}}
""",
    "cart": """\
triggers:
  - event: checkout_started
    key: properties.cart_id
entry: {{reentry: always, concurrent: per_key, cooldown: 12h}}
timezone: {{attribute: timezone, fallback: UTC}}
quiet_hours: {{start: "21:00", end: "08:00", on_quiet: defer}}
defaults: {{send_email: {{from: {{name: Shop, email: orders@example.com}}}}}}
exit_when:
  - event: order_completed
    where: {{prop: cart_id, eq: {{ref: entry.properties.cart_id}}}}
start: wait_purchase
steps:
  wait_purchase:
    type: wait_for
    event: order_completed
    match: {{prop: cart_id, eq: {{ref: entry.properties.cart_id}}}}
    timeout: 4h
    on_event: done
    on_timeout: reminder
  reminder:
    type: send_email
    template: {name}-reminder
    subject: "You left something in your cart"
    next: done
  done: {{type: exit, reason: sequence complete}}
""",
    "renewal": """\
triggers:
  - date: {{attribute: subscription.end_date, offset: -30d, at: "09:00", late_entry: enter_now}}
    key: subscription.end_date
audience: {{attr: subscription.auto_renew, eq: false}}
entry: {{reentry: always, concurrent: per_key}}
timezone: {{attribute: timezone, fallback: UTC}}
send_window: {{days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}}
defaults: {{send_email: {{from: {{name: Billing, email: billing@example.com}}}}}}
exit_when:
  - {{attr: subscription.end_date, after: {{ref: entry.subscription.end_date}}}}
start: remind_30
steps:
  remind_30:
    type: send_email
    template: {name}-30d
    subject: "Your plan renews soon"
    next: until_7
  until_7:
    type: wait
    until: {{attribute: subscription.end_date, offset: -7d, at: "09:00"}}
    next: remind_7
  remind_7:
    type: send_email
    template: {name}-7d
    subject: "7 days left on your plan"
    next: done
  done: {{type: exit, reason: renewal window handled}}
""",
}


# --- docs -----------------------------------------------------------------------------------


def docs(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the reference.")
    ] = DOCS_PATH,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if the file differs instead of writing it.")
    ] = False,
) -> None:
    """Write docs/journeys.md, the DSL reference generated from the spec types."""
    text = reference_markdown()
    if check:
        current = output.read_text(encoding="utf-8") if output.is_file() else ""
        if current != text:
            typer.echo(f"error: {output} is out of date; run 'nurture journeys docs'", err=True)
            raise typer.Exit(1)
        typer.echo(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


def reference_markdown() -> str:
    """Return docs/journeys.md: tables generated from the spec types, then the simulator guide."""
    from engine.journey.conditions import _KINDS, Comparison, Operators
    from engine.journey.spec import JourneySpec
    from engine.journey.steps import STEP_TYPES, Step
    from engine.journey.triggers import DateTrigger, EventTrigger, ScheduleTrigger, SegmentTrigger

    writer = _Reference()
    parts = [_DOCS_HEAD]
    parts.append("## The document\n\nEvery key of a journey file (`JourneySpec`).\n")
    parts.append(writer.tables([JourneySpec]))
    parts.append("## Triggers\n\nA trigger is chosen by the key it has.\n")
    parts.append(writer.tables([EventTrigger, SegmentTrigger, DateTrigger, ScheduleTrigger]))
    steps = {_step_type(m): m for m in _union_models(Step)}
    parts.append(
        "## Step kinds\n\nA step is chosen by its `type`: "
        + ", ".join(f"`{t}`" for t in STEP_TYPES)
        + ".\n"
    )
    parts.append(writer.tables([steps[t] for t in STEP_TYPES]))
    parts.append(
        "## Conditions\n\nA condition is chosen by its first key: "
        + ", ".join(f"`{k.tag.removeprefix('cond:')}`" for k in _KINDS if k.tag)
        + ". A value leaf (`attr`, `prop`, `entry`) takes exactly one operator of:\n\n"
        + ", ".join(f"`{op}`" for op in Operators.operators)
        + ".\n\n`count` and `score` take one of: "
        + ", ".join(f"`{op}`" for op in Comparison.operators)
        + ".\n"
    )
    parts.append(writer.tables(list(_KINDS), operators=False))
    parts.append(_DOCS_GUIDE)
    return "\n".join(p.rstrip("\n") + "\n" for p in parts)


def _union_models(annotation: Any) -> list[type]:
    from typing import get_args

    from pydantic import BaseModel

    found: list[type] = []
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found.append(arg)
        else:
            found += _union_models(arg)
    return found


def _step_type(model: type) -> str:
    from typing import get_args

    annotation = model.model_fields["type"].annotation  # type: ignore[attr-defined]
    return str(get_args(annotation)[0])


class _Reference:
    """Render spec models as Markdown tables, each nested model once, in discovery order."""

    def __init__(self) -> None:
        self.done: set[type] = set()

    def tables(self, roots: list[type], *, operators: bool = True) -> str:
        from engine.journey.conditions import Operators

        queue = list(roots)
        out: list[str] = []
        while queue:
            model = queue.pop(0)
            if model in self.done:
                continue
            self.done.add(model)
            nested: list[type] = []
            rows = []
            for name, info in model.model_fields.items():  # type: ignore[attr-defined]
                if not operators and issubclass(model, Operators) and name in _operator_fields():
                    continue
                annotation = info.annotation
                if info.metadata:
                    from typing import Annotated

                    annotation = Annotated[(annotation, *info.metadata)]
                kind = _type_text(annotation, nested)
                required = "yes" if info.is_required() else ""
                default = "" if info.is_required() else _default_text(info.default)
                rows.append(f"| `{info.alias or name}` | {kind} | {required} | {default} |")
            if not operators and issubclass(model, Operators):
                rows.append("| *operator* | one of the operators above | yes | |")
            doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
            doc = " ".join(doc.replace("``", "`").split())
            out.append(
                f'<a id="{_anchor(model)}"></a>\n\n### `{model.__name__}`\n\n{doc}\n\n'
                "| key | type | required | default |\n| --- | --- | --- | --- |\n"
                + "\n".join(rows)
                + "\n"
            )
            queue += [m for m in nested if m not in self.done and m not in queue]
        return "\n".join(out)


def _operator_fields() -> frozenset[str]:
    from engine.journey.conditions import Operators

    return frozenset(Operators.model_fields)


def _anchor(model: type) -> str:
    return f"model-{model.__name__.lower()}"


def _aliases() -> list[tuple[Any, str]]:
    from engine.journey.base import AttrPath, Name
    from engine.journey.conditions import Condition, Value
    from engine.journey.cron import Cron
    from engine.journey.durations import Duration, DurationOrNever, SignedDuration
    from engine.journey.steps import Step, StepId
    from engine.journey.steps.send_email import Email
    from engine.journey.steps.split import Weight
    from engine.journey.steps.wait import Until
    from engine.journey.steps.webhook import Body, HttpUrl
    from engine.journey.times import IsoInstant, LocalTime, TimeZoneName, Weekday
    from engine.journey.triggers import CorrelationKey, Trigger

    return [
        (Duration, "duration (`2d`)"),
        (SignedDuration, "offset (`-30d`)"),
        (DurationOrNever, "duration or `never`"),
        (LocalTime, 'time of day (`"09:00"`)'),
        (TimeZoneName, "IANA time zone"),
        (IsoInstant, "ISO date or date-time"),
        (Weekday, "weekday (`mon`…`sun`)"),
        (Cron, "cron (5 fields)"),
        (AttrPath, "attribute path"),
        (Name, "name"),
        (StepId, "step name"),
        (Email, "email address"),
        (Weight, "weight (0–100)"),
        (HttpUrl, "http(s) URL"),
        (Body, "text or mapping"),
        (Value, "value or `{ref: …}`"),
        (Condition, "[condition](#conditions)"),
        (Trigger, "[trigger](#triggers)"),
        (Step, "[step](#step-kinds)"),
        (CorrelationKey, "path or list of paths"),
        (Until, "ISO date/date-time or [`UntilAttribute`](#model-untilattribute)"),
    ]


def _type_text(annotation: Any, nested: list[type]) -> str:
    import types
    import typing
    from datetime import timedelta

    from pydantic import BaseModel

    for alias, text in _aliases():
        if annotation == alias:
            if "UntilAttribute" in text:
                from engine.journey.steps.wait import UntilAttribute

                nested.append(UntilAttribute)
            return text
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_text(args[0], nested)
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return " or ".join(_type_text(a, nested) for a in kept)
    if origin is typing.Literal:
        return " \\| ".join(
            f"`{json.dumps(a)}`" if not isinstance(a, str) else f"`{a}`" for a in args
        )
    if origin is tuple:
        item = args[0] if args else Any
        if len(args) == 2 and args[1] is not Ellipsis:
            return f"pair of {_type_text(args[0], nested)}"
        return f"list of {_type_text(item, nested)}"
    if origin in (dict, Mapping) or (
        origin is not None and getattr(origin, "__name__", "") == "Mapping"
    ):
        return f"map of {_type_text(args[0], nested)} → {_type_text(args[1], nested)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        nested.append(annotation)
        return f"[`{annotation.__name__}`](#{_anchor(annotation)})"
    names = {
        bool: "boolean",
        int: "whole number",
        float: "number",
        str: "text",
        timedelta: "duration",
    }
    if annotation in names:
        return names[annotation]
    return "any" if annotation is Any else str(getattr(annotation, "__name__", annotation))


def _default_text(value: Any) -> str:
    from datetime import timedelta

    from pydantic import BaseModel

    from engine.journey.durations import format_duration

    if value is None:
        return ""
    if isinstance(value, BaseModel):
        return "see its table"
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, tuple):
        return "`[" + ", ".join(str(v) for v in value) + "]`" if value else "`[]`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


_DOCS_HEAD = """\
# Journey reference (journey/v1)

<!-- Generated by `nurture journeys docs` from the spec types in engine/journey.
     Do not edit by hand: tests/engine/journey/test_docs.py fails when this file and the
     types disagree. Prose lives in the generator (cli/journey_sim.py). -->

Every key, step kind and condition a journey file accepts, generated from the types the
loader validates with, so this page cannot drift from the code. What each key *means*, with
examples, the comparison rules and every validator message, is in the hand-written
[Journey DSL guide](journey-dsl.md); how a journey runs is in its
[How journeys run](journey-dsl.md#how-journeys-run) section.

Then try a journey before any contact meets it: [the simulator](#simulating-a-journey) and
[scenario files](#scenario-files) are described at the end.

- [The document](#the-document)
- [Triggers](#triggers)
- [Step kinds](#step-kinds)
- [Conditions](#conditions)
- [Simulating a journey](#simulating-a-journey)
- [Scenario files](#scenario-files)
- [Starting a new journey](#starting-a-new-journey)

A *required* key must be written; an empty *default* means the key is simply absent.
"""

_DOCS_GUIDE = """\
## Simulating a journey

```console
$ nurture journeys simulate journeys/abandoned-cart.yaml --contact contact.json \\
    --events events.jsonl --until 14d [--start 2026-06-15T19:00:00-04:00] [--json] [--explain]
```

- `contact.json` holds the contact's fields and `attributes` (both become attributes;
  `attributes` wins), plus optionally `id`, `tags`, `segments`, `subscriptions` (topic names:
  consent), `score` or `scores` (`{model: number}`), `emails` (`{activity, at, step?,
  template?, human?}`) and `events` (history, written like event lines).
- `events.jsonl` holds one event per line: `{"type", "occurred_at", "properties"}`.
  `occurred_at` is ISO-8601 **with an offset** (`Z`, `+09:00`). Events before the start are
  history; events of type `email_sent`, `email_opened`, `email_clicked`, `email_bounced` and
  `email_unsubscribed` also count as email activity for the step in `properties.step` (or the
  template in `properties.template`).
- The virtual clock starts at `--start` (default: the first event; without events, a date
  trigger's moment) and runs to `--until`: a date-time or a duration after the start
  (default `90d`).
- A bad contact file or event line is reported with its file and line, and the command exits
  with status 2; a journey with errors prints them and exits 1.

The contact enters the journey from its own triggers: an event trigger at the time of the
first event whose `where` holds (and again as `entry` allows); a date trigger at the attribute
date plus `offset`, at the local `at` (a moment before the start enters at the start with
`late_entry: enter_now`, or not at all); a schedule trigger at each cron fire, when the
`audience` holds; a segment trigger at the start when the contact is (`enters`) or is not
(`exits`) in `segments`. Entry rules: `reentry: never` enters once (per key with
`concurrent: per_key`); while an enrollment (with the same key) runs, a trigger is ignored;
`after_exit` with `per_key` also waits until no other key runs; `cooldown` counts from the
last entry (with the same key); `max_entries` counts all entries.

Then the planner runs at each event and each wake-up, in time order, and every decision
becomes a timeline entry `{at, step, action, detail}` (plus `enrollment`, numbered from 1,
0 for entries about entering). `at` is ISO-8601 in the contact's zone; a send deferred by the
send window or quiet hours is listed when it goes out.

| action | when | detail |
| --- | --- | --- |
| `send_email` | a mail goes out | `template`, `subject`, `preview` (placeholders filled from the contact), `variant`, `from`, `topic`, `frequency_cap` |
| `update_contact`, `tag`, `score` | the contact changes | `set`/`unset`/`increment`, `add`/`remove`, `delta`/`model`/`reason` |
| `webhook`, `handoff`, `notify` | an outside call, a handoff to sales, a note to a colleague | the action's fields |
| `goal` | a declared goal is reached | `goal` |
| `exit` | the enrollment ends | `reason` (an exit step's reason, `exit_when`, `goal:<id>`, `step_limit`) |
| `wait` | a step starts holding the contact | `until`; `event` for a `wait_for`; `reason` (`send_window`, `quiet_hours`, `frequency_cap`) for a deferred send |
| `branch` | a `branch`, `split` or `wait_for` picks its way | `to`, `why`; `path` for a split; `exit` (`on_event`/`on_timeout`) for a `wait_for` |
| `skip` | something did not happen | `reason`: `audience`, `reentry`, `already_enrolled`, `cooldown`, `max_entries`, `late_entry`, `quiet_hours`, `send_window`, `frequency_cap`, `no_consent`, `if_past`, `not_reached`; `why` |

What the planner leaves to the runtime, the simulator emulates: the frequency cap is counted
over this simulation's own sends (other journeys' sends are unknown), deferring or skipping
as `on_limit` says; a send whose `topic` is not among the contact's `subscriptions` is skipped
with `no_consent`.

`--explain` adds the reasons: each leaf of a branch's condition, of the `exit_when` that held
and of a failed audience with its value (`✗ subscribed: marketing_email — not subscribed
(no consent)`); the frequency cap in force at each send; checkout events whose trigger
`where` did not hold; and, at the end, a `skip` with reason `not_reached` for every step the
contact never entered, naming the decision that led elsewhere. The table prints the local
time in the contact's zone and UTC, the step, the action and the detail.

## Scenario files

`nurture journeys test [PATHS]` runs scenario files, `*.test.yaml` under the journeys folder
(by default; shipped ones are in `journeys/tests/`) or the files and folders given. Each
scenario passes or fails like a test; any failure exits with status 1, so CI can gate a
journey change on them.

```yaml
journey: ../abandoned-cart.yaml        # relative to this file (or its parent folder)
contact: {id: shopper-1, timezone: America/New_York, subscriptions: [marketing_email]}
events:
  - {type: checkout_started, occurred_at: "2026-06-15T19:00:00-04:00",
     properties: {cart_id: cart-8812, cart_value: 45, item_count: 3}}
start: "2026-06-15T19:00:00-04:00"     # optional, as --start
until: 14d                             # optional, as --until
expect:                                # must all happen, in this order
  - {action: send_email, step: reminder, at: "2026-06-16T08:00:00-04:00"}
  - {action: exit, within: 3d, detail: {reason: sequence complete}}
expect_not:                            # must never happen
  - {action: send_email, step: no_consent}
```

An expectation names an `action` and/or a `step`; `at` must equal the entry's time (any
offset), `within` bounds it from the start, and `detail` must be contained in the entry's
detail (nested mappings too). Several scenarios may share one file: keys written at the top
are the defaults for each item of a `scenarios:` list, which may override them and adds a
`name`.

## Starting a new journey

`nurture journeys new NAME [--template welcome|b2b|cart|renewal]` writes `journeys/NAME.yaml`
from a template that validates, and never overwrites a file. Then write its templates,
run `nurture journeys validate`, and add a scenario under `journeys/tests/`.
"""
