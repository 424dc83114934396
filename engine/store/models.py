"""All tables, importable from one place (the Alembic env and tests use it)."""

from __future__ import annotations

from engine.store.models_campaigns import (
    Attendance,
    CampaignVersion,
    Enrollment,
    EnrollmentBase,
    EnrollmentCreate,
    EnrollmentPublic,
    TrainingSession,
    TrainingSessionBase,
    TrainingSessionCreate,
    TrainingSessionPublic,
)
from engine.store.models_messages import (
    Delivery,
    DeliveryBase,
    DeliveryCreate,
    DeliveryPublic,
    InboundEvent,
    Prompt,
    Reply,
    ReviewCard,
)
from engine.store.models_people import (
    ApiKey,
    Learner,
    LearnerBase,
    LearnerCreate,
    LearnerPublic,
    PushToken,
    Trainer,
)
from engine.store.models_quality import (
    DigestLog,
    ImprovementAction,
    PublishedIndicator,
    Testimonial,
)
from engine.store.models_support import Alert, AuditEvent, LearnerNote, Ticket, TicketMessage

__all__ = [
    "Alert",
    "ApiKey",
    "Attendance",
    "AuditEvent",
    "CampaignVersion",
    "Delivery",
    "DeliveryBase",
    "DeliveryCreate",
    "DeliveryPublic",
    "DigestLog",
    "Enrollment",
    "EnrollmentBase",
    "EnrollmentCreate",
    "EnrollmentPublic",
    "ImprovementAction",
    "InboundEvent",
    "Learner",
    "LearnerBase",
    "LearnerCreate",
    "LearnerNote",
    "LearnerPublic",
    "Prompt",
    "PublishedIndicator",
    "PushToken",
    "Reply",
    "ReviewCard",
    "Testimonial",
    "Ticket",
    "TicketMessage",
    "Trainer",
    "TrainingSession",
    "TrainingSessionBase",
    "TrainingSessionCreate",
    "TrainingSessionPublic",
]
