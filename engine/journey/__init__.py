"""The journey core: parse, validate and plan journeys. Pure: no I/O, no clock.

Entry points: ``validate_journey`` (YAML text → ``Report``), ``load_journey``
(schema only), ``compile_condition`` (condition → predicate over a
``ContactView``), ``journey_json_schema``, ``plan`` (enrollment + contact + now →
``Plan``), ``simulate`` (replay ``plan`` over a timeline) and ``simulate_journey``
(enroll from the triggers and return the timeline people read).
"""

from engine.journey.actions import (
    Action,
    AdjustScore,
    CallWebhook,
    CapPolicy,
    Exit,
    Handoff,
    Note,
    Notify,
    ReachGoal,
    SendEmail,
    Tag,
    UpdateContact,
    action_to_json,
    apply_action,
)
from engine.journey.catalog import AttributeType, Catalog
from engine.journey.conditions import Condition
from engine.journey.contact_view import ContactView, EmailRecord, EventRecord
from engine.journey.diagnostics import Diagnostic, Finding, Severity, format_all, to_json
from engine.journey.durations import format_duration, parse_duration
from engine.journey.loader import LoadResult, load_journey
from engine.journey.planner import (
    MAX_STEPS_PER_CALL,
    MAX_STEPS_PER_ENROLLMENT,
    CompiledJourney,
    Plan,
    compile_journey,
    plan,
)
from engine.journey.predicates import Predicate, compile_any, compile_condition
from engine.journey.schema import journey_json_schema
from engine.journey.simulate import PlanStep, simulate
from engine.journey.simulation import (
    Expectation,
    Simulation,
    TimelineEntry,
    check_expectations,
    contact_from_json,
    event_from_json,
    simulate_journey,
)
from engine.journey.spec import JourneySpec
from engine.journey.state import EnrollmentState, WaitingOn
from engine.journey.steps import Step
from engine.journey.validate import Report, check_spec, validate_journey

__all__ = [
    "MAX_STEPS_PER_CALL",
    "MAX_STEPS_PER_ENROLLMENT",
    "Action",
    "AdjustScore",
    "AttributeType",
    "CallWebhook",
    "CapPolicy",
    "Catalog",
    "CompiledJourney",
    "Condition",
    "ContactView",
    "Diagnostic",
    "EmailRecord",
    "EnrollmentState",
    "EventRecord",
    "Exit",
    "Expectation",
    "Finding",
    "Handoff",
    "JourneySpec",
    "LoadResult",
    "Note",
    "Notify",
    "Plan",
    "PlanStep",
    "Predicate",
    "ReachGoal",
    "Report",
    "SendEmail",
    "Severity",
    "Simulation",
    "Step",
    "Tag",
    "TimelineEntry",
    "UpdateContact",
    "WaitingOn",
    "action_to_json",
    "apply_action",
    "check_expectations",
    "check_spec",
    "compile_any",
    "compile_condition",
    "compile_journey",
    "contact_from_json",
    "event_from_json",
    "format_all",
    "format_duration",
    "journey_json_schema",
    "load_journey",
    "parse_duration",
    "plan",
    "simulate",
    "simulate_journey",
    "to_json",
    "validate_journey",
]
