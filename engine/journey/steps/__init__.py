"""One class per step kind, each with its own fields, exits and checks."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from engine.journey.steps.base import ActionStep, Exit, OnError, StepBase, StepContext, StepId
from engine.journey.steps.branch import BranchStep, Case
from engine.journey.steps.contact_updates import ScoreStep, TagStep, UpdateContactStep
from engine.journey.steps.handoff import HandoffStep
from engine.journey.steps.markers import ExitStep, GoalStep
from engine.journey.steps.notify import NotifyStep
from engine.journey.steps.send_email import SendEmailStep, Sender
from engine.journey.steps.split import SplitStep
from engine.journey.steps.wait import WaitStep
from engine.journey.steps.wait_for import WaitForStep
from engine.journey.steps.webhook import WebhookStep

Step = Annotated[
    WaitStep
    | WaitForStep
    | BranchStep
    | SplitStep
    | SendEmailStep
    | UpdateContactStep
    | TagStep
    | ScoreStep
    | WebhookStep
    | HandoffStep
    | NotifyStep
    | GoalStep
    | ExitStep,
    Field(discriminator="type"),
]
"""Any step, chosen by its ``type``."""

STEP_TYPES: tuple[str, ...] = (
    "wait", "wait_for", "branch", "split", "send_email", "update_contact", "tag",
    "score", "webhook", "handoff", "notify", "goal", "exit",
)  # fmt: skip

__all__ = [
    "STEP_TYPES",
    "ActionStep",
    "BranchStep",
    "Case",
    "Exit",
    "ExitStep",
    "GoalStep",
    "HandoffStep",
    "NotifyStep",
    "OnError",
    "ScoreStep",
    "SendEmailStep",
    "Sender",
    "SplitStep",
    "Step",
    "StepBase",
    "StepContext",
    "StepId",
    "TagStep",
    "UpdateContactStep",
    "WaitForStep",
    "WaitStep",
    "WebhookStep",
]
