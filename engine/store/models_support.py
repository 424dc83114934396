"""Follow-up for humans: alerts to trainers, the learner-question inbox, and the
append-only audit trail that Qualiopi evidence is built from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.store.base import TicketAuthor, TicketCategory, TicketStatus, one_of
from engine.store.types import JSONType, UTCDateTime, utc_now


class Alert(SQLModel, table=True):
    """Something a trainer should look at (blocked action plan, learner at risk).

    ``learner_id`` is None for an alert about a whole session (``session_problem``).
    """

    __tablename__ = "alert"

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int | None = Field(default=None, foreign_key="learner.id", index=True)
    enrollment_id: int | None = Field(default=None, foreign_key="enrollment.id")
    session_id: int | None = Field(default=None, foreign_key="training_session.id", index=True)
    kind: str = Field(max_length=32)
    reason: str
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Who acknowledged it (or, for a ``task`` alert, marked it done) and when it was done.
    acknowledged_by_id: int | None = Field(default=None, foreign_key="trainer.id")
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Ticket(SQLModel, table=True):
    """A learner question or complaint with a response-time target (``due_by``)."""

    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_status_due_by", "status", "due_by"),
        one_of("status", TicketStatus),
        one_of("category", TicketCategory),
    )

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int | None = Field(default=None, foreign_key="learner.id", index=True)
    session_id: int | None = Field(default=None, foreign_key="training_session.id", index=True)
    inbound_event_id: int | None = Field(default=None, foreign_key="inbound_event.id")
    body: str
    status: str = Field(default=TicketStatus.OPEN, max_length=16)
    faq_entry_id: str | None = Field(default=None, max_length=128)
    auto_answered: bool = False
    # NULL until a person sets it: the inbox shows a guess (complaint words → réclamation).
    category: str | None = Field(default=None, max_length=16)
    assignee_id: int | None = Field(default=None, foreign_key="trainer.id", index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    due_by: datetime = Field(sa_type=UTCDateTime)
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Complaints register (Qualiopi indicator 31).
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution: str | None = None
    corrective_action_id: int | None = Field(default=None, foreign_key="improvement_action.id")


class TicketMessage(SQLModel, table=True):
    """One message in a ticket's conversation."""

    __tablename__ = "ticket_message"
    __table_args__ = (
        UniqueConstraint("ticket_id", "idempotency_key"),
        one_of("author", TicketAuthor),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    author: str = Field(max_length=16)
    body: str
    # A trainer's answer: who wrote it, and the key that makes a repeated request a no-op.
    author_trainer_id: int | None = Field(default=None, foreign_key="trainer.id")
    idempotency_key: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class LearnerNote(SQLModel, table=True):
    """A trainer's note on a learner (a call made, a difficulty heard), shown on the learner page."""

    __tablename__ = "learner_note"

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    author_id: int | None = Field(default=None, foreign_key="trainer.id")
    body: str
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """One state change of one entity; rows are only ever inserted.

    ``at`` is the engine clock's time of the change (simulations run fast),
    ``created_at`` the wall-clock time the row was written.
    """

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_entity_entity_id", "entity", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(max_length=32)
    entity_id: int
    action: str = Field(max_length=64)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str | None = Field(default=None, max_length=32)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
