"""The journey core: parse, validate and (later) plan journeys. Pure: no I/O, no clock.

Entry points: ``validate_journey`` (YAML text → ``Report``), ``load_journey``
(schema only), ``compile_condition`` (condition → predicate over a
``ContactView``), ``journey_json_schema``.
"""

from engine.journey.catalog import AttributeType, Catalog
from engine.journey.conditions import Condition
from engine.journey.contact_view import ContactView, EmailRecord, EventRecord
from engine.journey.diagnostics import Diagnostic, Finding, Severity, format_all, to_json
from engine.journey.durations import format_duration, parse_duration
from engine.journey.loader import LoadResult, load_journey
from engine.journey.predicates import Predicate, compile_any, compile_condition
from engine.journey.schema import journey_json_schema
from engine.journey.spec import JourneySpec
from engine.journey.steps import Step
from engine.journey.validate import Report, check_spec, validate_journey

__all__ = [
    "AttributeType",
    "Catalog",
    "Condition",
    "ContactView",
    "Diagnostic",
    "EmailRecord",
    "EventRecord",
    "Finding",
    "JourneySpec",
    "LoadResult",
    "Predicate",
    "Report",
    "Severity",
    "Step",
    "check_spec",
    "compile_any",
    "compile_condition",
    "format_all",
    "format_duration",
    "journey_json_schema",
    "load_journey",
    "parse_duration",
    "to_json",
    "validate_journey",
]
