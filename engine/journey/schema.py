"""The JSON Schema of journey/v1, generated from the spec types, for editor autocomplete."""

from __future__ import annotations

from typing import Any

from engine.journey.spec import DSL, JourneySpec

SCHEMA_ID = "https://nurture.dev/schemas/journey-v1.json"


def journey_json_schema() -> dict[str, Any]:
    """Return the JSON Schema a YAML editor can use to check and complete journeys.

    Declared as draft-07, which every YAML language server understands; ``$defs``
    references are plain JSON Pointers, so they resolve there too. The schema
    covers shapes; references, graph and semantic rules need ``nurture journeys validate``.
    """
    schema = JourneySpec.model_json_schema(by_alias=True, mode="validation")
    schema["properties"]["dsl"] = {"const": DSL, "description": "Schema id of this document."}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        **schema,
        "title": "Nurture journey (journey/v1)",
    }
