"""Validation of a generated 200-step journey, vs a bare ruamel.yaml load of the same text.

The journey chains send → wait → branch blocks (branches on engagement, score and tags, with
two exits each) so every check runs: schema, references, the step graph (reachability,
paths to an exit, cycles), and the email-before-engagement data flow. The baseline only
parses the YAML; the ratio is what compiler-grade validation costs on top of reading it.
"""

from __future__ import annotations

import io

from ruamel.yaml import YAML

from bench.runner import Context, Figure, median, rate
from engine.journey import validate_journey

STEPS = 200
ROUNDS = 5


def journey_text(steps: int = STEPS) -> str:
    """Return a valid journey: blocks of send, wait, branch, then a tag and an exit (200 steps)."""
    lines = [
        "dsl: journey/v1",
        "id: bench-long-journey",
        "name: ベンチマーク用の長いジャーニー",
        "version: 1",
        "triggers: [{event: signed_up, where: {prop: plan, in: [trial, pro]}}]",
        "audience: {all: [{attr: email, exists: true}, {not: {attr: lifecycle_stage, eq: customer}}]}",
        'send_window: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "18:00"}',
        'quiet_hours: {start: "21:00", end: "08:00"}',
        "defaults: {send_email: {from: {name: Acme, email: hello@acme.io}}}",
        "exit_when: [{email: unsubscribed}, {attr: lifecycle_stage, eq: customer}]",
        "start: s0",
        "steps:",
    ]
    blocks = (steps - 2) // 3
    for i in range(blocks):
        after = f"s{3 * (i + 1)}" if i + 1 < blocks else "finish"
        lines += [
            f'  s{3 * i}: {{type: send_email, template: mail-{i}, subject: "メール {i}: {{{{ contact.first_name }}}}", next: s{3 * i + 1}}}',
            f"  s{3 * i + 1}: {{type: wait, duration: 1d, next: s{3 * i + 2}}}",
            f"  s{3 * i + 2}:",
            "    type: branch",
            "    cases:",
            f"      - {{when: {{email: opened, step: s{3 * i}}}, next: {after}}}",
            f"      - {{when: {{score: {{gte: {i}}}}}, next: {after}}}",
            f"    default: {after}",
        ]
    lines.append("  finish: {type: tag, add: [finished], next: done}")
    lines.append("  done: {type: exit, reason: finished}")
    return "\n".join(lines) + "\n"


def run(context: Context) -> list[Figure]:
    text = journey_text()
    report = validate_journey(text, "bench.yaml")
    assert report.spec is not None, report.format()
    assert len(report.spec.steps) == STEPS
    yaml = YAML(typ="rt", pure=True)
    checked, loaded = [], []
    for _ in range(context.repeat):
        # Counted in steps, so a rate near one journey a second still reads precisely.
        checked.append(
            rate(STEPS * ROUNDS, lambda: [validate_journey(text, "v.yaml") for _ in range(ROUNDS)])
        )
        loaded.append(
            rate(STEPS * ROUNDS, lambda: [yaml.load(io.StringIO(text)) for _ in range(ROUNDS)])
        )
    return [
        Figure(
            "journey_validate",
            f"validate a {STEPS}-step journey (steps checked)",
            "steps/s",
            median(checked),
            "ruamel.yaml round-trip load",
            median(loaded),
            context.repeat,
        )
    ]
