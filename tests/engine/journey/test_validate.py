"""Validation beyond the schema: references, graph, semantics, output formats."""

from __future__ import annotations

import json

import pytest

from engine.journey import Catalog, Diagnostic, check_spec, load_journey, validate_journey
from tests.engine.journey.support import CATALOG, JOURNEYS

HEADER = """dsl: journey/v1
id: validate-test
name: Validate test
version: 1
triggers:
  - event: signed_up
defaults: {send_email: {from: {name: Acme, email: hello@acme.io}}}
"""


def _codes(body: str, catalog: Catalog = CATALOG, header: str = HEADER) -> list[tuple[str, str]]:
    report = validate_journey(header + body, "j.yaml", catalog)
    return [(d.code, d.path) for d in report.diagnostics]


def test_diagnostic_formats_like_a_compiler() -> None:
    diagnostic = Diagnostic(
        "nurture.yaml", 42, 11, "error", "E201", "steps.remind.next", "unknown step 'reminderr'"
    )

    assert diagnostic.format() == (
        "nurture.yaml:42:11: error[E201] steps.remind.next: unknown step 'reminderr'"
    )
    assert Diagnostic("f", 1, 2, "warning", "W401", "entry.cooldown", "m").format() == (
        "f:1:2: warning[W401] entry.cooldown: m"
    )


def test_json_output_carries_the_same_findings() -> None:
    text = (
        HEADER
        + """start: welcome
steps:
  welcome: {type: send_email, template: welcme, subject: こんにちは, next: done}
  done: {type: exit}
"""
    )
    report = validate_journey(text, "j.yaml", CATALOG)

    payload = report.to_json()

    assert json.loads(json.dumps(payload, ensure_ascii=False)) == [
        {
            "file": "j.yaml",
            "line": 10,
            "col": 41,
            "severity": "error",
            "code": "E202",
            "path": "steps.welcome.template",
            "message": "unknown template 'welcme' (did you mean 'welcome'?)",
        }
    ]
    assert report.format() == (
        "j.yaml:10:41: error[E202] steps.welcome.template: "
        "unknown template 'welcme' (did you mean 'welcome'?)"
    )


def test_every_layer_reports_in_one_run() -> None:
    body = """audience: {attr: lifecylce_stage, eq: lead}
start: welcome
steps:
  welcome: {type: send_email, template: welcme, subject: Hi, next: pause}
  pause: {type: wait, duration: 2d, next: ab}
  ab:
    type: split
    paths:
      - {name: a, weight: 70, next: finish}
      - {name: b, weight: 20, next: finnish}
  finish: {type: exit}
"""
    assert _codes(body) == [
        ("E210", "audience.attr"),
        ("E202", "steps.welcome.template"),
        ("E401", "steps.ab.paths"),
        ("E201", "steps.ab.paths[1].next"),
    ]


def test_unchecked_catalog_kinds_are_not_reported() -> None:
    body = """audience: {all: [{segment: nobody-knows}, {subscribed: whatever}]}
start: welcome
steps:
  welcome: {type: send_email, template: anything, subject: Hi, topic: any, next: done}
  done: {type: exit}
"""
    assert _codes(body, Catalog()) == []
    assert {code for code, _ in _codes(body, CATALOG)} == {"E202", "E203", "E204"}


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.acme.io/x", True),
        ("https://eu.crm.example/api", True),
        ("https://crm.example.evil.io/", False),
        ("http://HOOKS.ACME.IO/y", True),
    ],
)
def test_webhook_allowlist_with_wildcards(url: str, allowed: bool) -> None:
    body = f"""start: ping
steps:
  ping: {{type: webhook, url: "{url}", on_failure: done, next: done}}
  done: {{type: exit}}
"""
    assert (_codes(body) == []) is allowed


def test_webhook_url_must_be_http() -> None:
    body = """start: ping
steps:
  ping: {type: webhook, url: "ftp://hooks.acme.io/x", next: done}
  done: {type: exit}
"""
    assert _codes(body) == [("E102", "steps.ping.url")]


def test_entry_refs_are_fine_with_event_and_date_triggers() -> None:
    header = HEADER.replace(
        "  - event: signed_up\n",
        "  - event: signed_up\n  - date: {attribute: signup_date, offset: 30d}\n",
    )
    body = """exit_when: [{attr: plan, eq: {ref: entry.properties.plan}}]
start: done
steps:
  done: {type: exit}
"""
    assert _codes(body, Catalog(), header) == []
    segment_header = header.replace("  - event: signed_up\n", "  - segment: trial_users\n")
    assert _codes(body, Catalog(), segment_header) == [("E207", "exit_when[0].eq")]


def test_email_condition_needs_the_named_send_on_every_path() -> None:
    body = """start: ab
steps:
  ab:
    type: split
    paths:
      - {name: a, weight: 50, next: first}
      - {name: b, weight: 50, next: second}
  first: {type: send_email, template: welcome, subject: A, next: pause}
  second: {type: send_email, template: reminder, subject: B, next: pause}
  pause: {type: wait, duration: 1d, next: check}
  check:
    type: branch
    if: {email: clicked, steps: [first, second]}
    then: done
    else: done
  done: {type: exit}
"""
    assert _codes(body) == []
    only_first = body.replace("steps: [first, second]", "step: first")
    assert _codes(only_first) == [("E404", "steps.check.if.email")]
    by_template = body.replace("steps: [first, second]", "template: welcome")
    assert _codes(by_template) == [("E404", "steps.check.if.email")]


def test_loops_with_a_wait_are_allowed_but_must_lead_out() -> None:
    body = """start: welcome
steps:
  welcome: {type: send_email, template: welcome, subject: Hi, next: pause}
  pause: {type: wait, duration: 7d, next: check}
  check:
    type: branch
    if: {tag: customer}
    then: done
    else: welcome
  done: {type: exit}
"""
    assert _codes(body) == []


def test_a_trap_is_reported_once_at_its_entrance() -> None:
    body = """start: welcome
steps:
  welcome: {type: send_email, template: welcome, subject: Hi, next: check}
  check:
    type: branch
    if: {tag: customer}
    then: done
    else: loop_a
  loop_a: {type: wait, duration: 1d, next: loop_b}
  loop_b: {type: tag, add: [looping], next: loop_a}
  done: {type: exit}
"""
    assert _codes(body) == [("E303", "steps.loop_a")]


def test_wait_for_never_needs_no_timeout_exit() -> None:
    body = """start: purchase
steps:
  purchase: {type: wait_for, event: order_completed, timeout: never, on_event: done}
  done: {type: exit}
"""
    assert _codes(body) == []
    with_timeout_exit = body.replace("on_event: done}", "on_event: done, on_timeout: done}")
    assert _codes(with_timeout_exit) == [("E408", "steps.purchase.on_timeout")]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{reentry: always, cooldown: 1d}", [("W401", "entry.cooldown")]),
        ("{reentry: always, cooldown: 5d}", []),
        ("{reentry: always, concurrent: per_key, cooldown: 1d}", []),
        ("{reentry: never, cooldown: 1d}", []),
    ],
)
def test_cooldown_warning(entry: str, expected: list[tuple[str, str]]) -> None:
    body = f"""entry: {entry}
start: welcome
steps:
  welcome: {{type: send_email, template: welcome, subject: Hi, next: pause}}
  pause: {{type: wait, duration: 3d, next: confirm}}
  confirm: {{type: wait_for, event: confirmed, timeout: 1d, on_event: done, on_timeout: done}}
  done: {{type: exit}}
"""
    assert _codes(body) == expected


def test_warnings_do_not_block_the_spec() -> None:
    body = """entry: {reentry: always, cooldown: 1h}
start: pause
steps:
  pause: {type: wait, duration: 1d, next: done}
  done: {type: exit}
"""
    report = validate_journey(HEADER + body, "w.yaml", CATALOG)

    assert report.ok
    assert report.spec is not None
    assert [d.code for d in report.warnings] == ["W401"]


def test_migrate_covers_removed_steps() -> None:
    old = load_journey(
        (JOURNEYS / "abandoned-cart.yaml").read_text(encoding="utf-8"), "old.yaml"
    ).spec
    assert old is not None
    text = (JOURNEYS / "abandoned-cart.yaml").read_text(encoding="utf-8")
    text = text.replace("version: 1", "version: 2").replace(
        "    next: wait_20h\n  wait_20h: {type: wait, duration: 20h, next: offer_test}\n",
        "    next: offer_test\n",
    )

    without = validate_journey(text, "new.yaml", CATALOG, previous=old)
    with_map = validate_journey(
        text + "migrate: {wait_20h: offer_test}\n", "new.yaml", CATALOG, previous=old
    )
    bad_map = validate_journey(
        text + "migrate: {wait_20h: offer}\n", "new.yaml", CATALOG, previous=old
    )

    assert [d.code for d in without.diagnostics] == ["E501"]
    assert with_map.diagnostics == ()
    assert [(d.code, d.path) for d in bad_map.diagnostics] == [("E201", "migrate.wait_20h")]


def test_check_spec_works_without_a_source() -> None:
    spec = load_journey(
        (JOURNEYS / "abandoned-cart.yaml").read_text(encoding="utf-8"), "a.yaml"
    ).spec
    assert spec is not None

    found = check_spec(spec, Catalog(templates=frozenset({"cart-reminder"})), filename="db:7")

    assert [d.format() for d in found] == [
        "db:7:1:1: error[E202] steps.discount_email.template: unknown template 'cart-discount-10'",
        "db:7:1:1: error[E202] steps.social_proof_email.template: "
        "unknown template 'cart-bestsellers'",
    ]


def test_step_checks_still_run_when_the_top_level_is_broken() -> None:
    text = (
        HEADER.replace("version: 1", "version: one")
        + """start: welcome
steps:
  welcome: {type: send_email, template: welcme, subject: Hi, next: donne}
  done: {type: exit}
"""
    )
    report = validate_journey(text, "p.yaml", CATALOG)

    assert [(d.code, d.path) for d in report.diagnostics] == [
        ("E102", "version"),
        ("E202", "steps.welcome.template"),
        ("E201", "steps.welcome.next"),
    ]
    assert "did you mean 'done'?" in report.diagnostics[2].message


@pytest.mark.parametrize(
    ("step", "code"),
    [
        ("{type: tag, next: done}", "E408"),
        ("{type: update_contact, next: done}", "E408"),
        ("{type: notify, to: {role: sales}, next: done}", "E408"),
        ("{type: notify, to: {role: sales, user: a@b.io}, message: hi, next: done}", "E408"),
        ("{type: branch, then: done, else: done}", "E408"),
        ("{type: branch, if: {tag: a}, cases: [{when: {tag: b}, next: done}], default: done}", "E408"),
        ("{type: handoff, assign: {strategy: round_robin, fallback: {pool: csm-team}}, next: done}", "E408"),
        ("{type: split, paths: [{name: only, weight: 100, next: done}]}", "E408"),
        ("{type: send_email, template: welcome, subject: Hi, variants: [{id: A, weight: 50}, {id: A, weight: 50}], next: done}", "E113"),
        ("{type: send_email, template: welcome, subject: Hi, variants: [{id: A, weight: 50}], next: done}", "E401"),
        ("{type: update_contact, set: {lifecycle_stag: sql}, next: done}", "E210"),
        ("{type: wait, until: {attribute: first_name, offset: -1d}, next: done}", "E406"),
        ("{type: split, experiment: {goal: nope, window: 7d}, paths: [{name: a, weight: 50, next: done}, {name: b, weight: 50, next: done}]}", "E209"),
    ],
)  # fmt: skip
def test_step_kind_checks(step: str, code: str) -> None:
    body = f"""start: first
steps:
  first: {step}
  done: {{type: exit}}
"""
    assert [c for c, _ in _codes(body)] == [code]


def test_step_ids_in_japanese_are_refused_with_their_place() -> None:
    body = """start: welcome
steps:
  welcome: {type: send_email, template: welcome, subject: Hi, next: 完了}
  完了: {type: exit}
"""
    report = validate_journey(HEADER + body, "ja.yaml", CATALOG)

    assert [d.format() for d in report.diagnostics] == [
        "ja.yaml:11:3: error[E102] steps.完了: invalid step name '完了': "
        "use lower-case letters, digits, '_' and '-'"
    ]


def test_a_misspelt_exit_does_not_cascade_into_unreachable_steps() -> None:
    body = """start: welcome
steps:
  welcome: {type: send_email, template: welcome, subject: Hi, next: paus}
  pause: {type: wait, duration: 1d, next: nudge}
  nudge: {type: send_email, template: reminder, subject: Hi again, next: done}
  done: {type: exit}
"""
    assert _codes(body) == [("E201", "steps.welcome.next")]
    hopeless = body.replace("next: paus", "next: xyzzy")
    assert _codes(hopeless) == [("E201", "steps.welcome.next")]
    truly_orphaned = body.replace("next: paus", "next: done")
    assert _codes(truly_orphaned) == [("E301", "steps.pause"), ("E301", "steps.nudge")]
