"""Shared metadata settings and the vocabulary of states stored in the tables.

Constraint names follow a convention so that later Alembic migrations can drop
or alter them by name (SQLite batch mode needs names to rebuild a table).
Import this module before any table is declared.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint
from sqlmodel import SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

metadata = SQLModel.metadata


class Channel(StrEnum):
    SMS = "sms"
    WHATSAPP = "whatsapp"
    PUSH = "push"
    EMAIL = "email"


class Recipient(StrEnum):
    LEARNER = "learner"
    MANAGER = "manager"
    TRAINER = "trainer"


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    COMPLETED = "completed"


class DeliveryStatus(StrEnum):
    PLANNED = "planned"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    SKIPPED = "skipped"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


#: States a delivery never leaves (``sent`` is not one: a status callback may
#: still move it to delivered, read or failed).
TERMINAL_DELIVERY_STATUSES = frozenset(
    {
        DeliveryStatus.DELIVERED,
        DeliveryStatus.READ,
        DeliveryStatus.FAILED,
        DeliveryStatus.SKIPPED,
        DeliveryStatus.EXPIRED,
        DeliveryStatus.CANCELLED,
    }
)


class DeliveryOrigin(StrEnum):
    PLAN = "plan"
    BRANCH = "branch"
    REMINDER = "reminder"
    FEEDBACK = "feedback"
    SYSTEM = "system"


class PromptKind(StrEnum):
    QUIZ = "quiz"
    REVIEW = "review"
    SURVEY = "survey"
    CHECKIN = "checkin"
    #: "Do you want to stop receiving messages?" after a learner asked so in words.
    CONFIRM = "confirm"


class PromptStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class InboundStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class TicketStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class TrainerRole(StrEnum):
    """``trainer`` sees the sessions they lead; ``quality`` (responsable qualité) sees all."""

    TRAINER = "trainer"
    QUALITY = "quality"


class TicketCategory(StrEnum):
    """What a learner's message is, for the inbox and the complaints register."""

    QUESTION = "question"
    DIFFICULTY = "difficulte"
    COMPLAINT = "reclamation"


class ActionSource(StrEnum):
    """What prompted an improvement action (Qualiopi indicator 32)."""

    TICKET = "ticket"
    ALERT = "alert"
    CRITERION = "criterion"
    VERBATIM = "verbatim"
    AUDIT = "audit"
    OTHER = "other"


class ActionStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class ConsentScope(StrEnum):
    """Where a testimonial may appear."""

    INTERNAL = "internal"
    WEBSITE = "website"


class TrainingCompletion(StrEnum):
    """The training's own outcome for one attendee, when the organisation reports it."""

    COMPLETED = "completed"
    ABANDONED = "abandoned"


class TicketAuthor(StrEnum):
    LEARNER = "learner"
    TRAINER = "trainer"
    SYSTEM = "system"


def one_of(column: str, values: type[StrEnum], *, name: str | None = None) -> CheckConstraint:
    """A CHECK that keeps a state column inside its vocabulary on both backends."""
    allowed = ", ".join(f"'{member.value}'" for member in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name or column)
