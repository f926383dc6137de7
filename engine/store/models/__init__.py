"""Every table, importable from one place (Alembic and repositories read ``Base.metadata``)."""

from engine.store.models.access import ROLES, SCOPES, ApiKey, User
from engine.store.models.analytics import RfmScore
from engine.store.models.base import Base
from engine.store.models.bounces import Bounce, InboundMail
from engine.store.models.broadcasts import Broadcast
from engine.store.models.contacts import (
    LIFECYCLE_STAGES,
    AnonymousIdentity,
    ConsentRecord,
    Contact,
    ContactList,
    ContactTag,
    Erasure,
    ListMember,
    Subscription,
)
from engine.store.models.events import Event
from engine.store.models.journeys import (
    Enrollment,
    Journey,
    JourneyVersion,
    OutboxMessage,
    StepRun,
    TriggerCheckpoint,
)
from engine.store.models.messages import Link, Message, TrackingEvent
from engine.store.models.operations import ProcessHeartbeat
from engine.store.models.sales import Handoff, ScoreChange, StageChange
from engine.store.models.scoring import (
    DecayRun,
    HandoffTimer,
    PoolCursor,
    ScoredEvent,
    ScoringConfig,
)
from engine.store.models.segments import Segment, SegmentMembership
from engine.store.models.sites import Site
from engine.store.models.stats import DeliveryRollup, RollupWatermark
from engine.store.models.suppressions import SUPPRESSION_REASONS, Suppression
from engine.store.models.webhooks import Notification, WebhookDelivery

__all__ = [
    "LIFECYCLE_STAGES",
    "ROLES",
    "SCOPES",
    "SUPPRESSION_REASONS",
    "AnonymousIdentity",
    "ApiKey",
    "Base",
    "Bounce",
    "Broadcast",
    "ConsentRecord",
    "Contact",
    "ContactList",
    "ContactTag",
    "DecayRun",
    "DeliveryRollup",
    "Enrollment",
    "Erasure",
    "Event",
    "Handoff",
    "HandoffTimer",
    "InboundMail",
    "Journey",
    "JourneyVersion",
    "Link",
    "ListMember",
    "Message",
    "Notification",
    "OutboxMessage",
    "PoolCursor",
    "ProcessHeartbeat",
    "RfmScore",
    "RollupWatermark",
    "ScoreChange",
    "ScoredEvent",
    "ScoringConfig",
    "Segment",
    "SegmentMembership",
    "Site",
    "StageChange",
    "StepRun",
    "Subscription",
    "Suppression",
    "TrackingEvent",
    "TriggerCheckpoint",
    "User",
    "WebhookDelivery",
]
