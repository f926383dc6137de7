"""The JSON Schema editors use: generated from the spec types, complete and serialisable."""

from __future__ import annotations

import json
from typing import Any

from engine.journey import journey_json_schema, load_journey
from engine.journey.conditions import CONDITION_KEYS
from engine.journey.steps import STEP_TYPES
from tests.engine.journey.support import JOURNEYS


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    resolved: dict[str, Any] = schema["$defs"][ref.rsplit("/", 1)[1]]
    return resolved


def test_schema_is_json_with_identity() -> None:
    schema = journey_json_schema()

    text = json.dumps(schema)
    assert json.loads(text) == schema
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["properties"]["dsl"] == {
        "const": "journey/v1",
        "description": "Schema id of this document.",
    }
    assert set(schema["required"]) == {"dsl", "id", "name", "version", "triggers", "start", "steps"}
    assert schema["additionalProperties"] is False


def test_steps_are_chosen_by_type_for_autocomplete() -> None:
    schema = journey_json_schema()

    (step_schema,) = schema["properties"]["steps"]["patternProperties"].values()
    mapping = step_schema["discriminator"]["mapping"]
    assert set(mapping) == set(STEP_TYPES)
    send = schema["$defs"]["SendEmailStep"]
    assert {"template", "subject", "from", "reply_to", "topic", "variants", "respect", "next",
            "on_error"} <= set(send["properties"])  # fmt: skip
    assert send["properties"]["type"]["const"] == "send_email"


def test_conditions_offer_every_kind_and_aliases() -> None:
    schema = journey_json_schema()

    kinds = schema["$defs"]["AllOf"]["properties"]["all"]["items"]["oneOf"]
    keys = set()
    for kind in kinds:
        keys |= set(_resolve(schema, kind)["required"])
    assert keys == set(CONDITION_KEYS)
    attr = schema["$defs"]["AttrLeaf"]
    assert {"in", "nin", "between", "within_last"} <= set(attr["properties"])
    assert attr["maxProperties"] == 2
    branch = schema["$defs"]["BranchStep"]["properties"]
    assert {"if", "then", "else", "cases", "default"} <= set(branch)


def test_durations_and_times_are_patterns() -> None:
    schema = journey_json_schema()

    wait = schema["$defs"]["WaitStep"]["properties"]["duration"]["anyOf"][0]
    assert wait["type"] == "string"
    assert "pattern" in wait
    window = schema["$defs"]["SendWindow"]["properties"]["start"]
    assert window["pattern"].startswith("^")


def test_every_key_in_the_examples_is_in_the_schema() -> None:
    schema = journey_json_schema()

    for path in JOURNEYS.glob("*.yaml"):
        loaded = load_journey(path.read_text(encoding="utf-8"), path.name)
        for key in loaded.source_map.keys:
            if len(key) == 1:
                assert key[0] in schema["properties"], (path.name, key)
