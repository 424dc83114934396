"""Messages out (deliveries), questions awaiting an answer (prompts), messages
in (inbound events, replies) and per-item spaced-repetition state.

A :class:`Delivery` is one planned send; its ``status`` only moves through
compare-and-set updates (see :mod:`engine.store.deliveries`), which is what
makes retries, several workers and redelivered callbacks harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from engine.store.base import (
    DeliveryOrigin,
    DeliveryStatus,
    InboundStatus,
    PromptKind,
    PromptStatus,
    Recipient,
    one_of,
)
from engine.store.types import JSONType, UTCDateTime, utc_now


class DeliveryBase(SQLModel):
    """What the planner decides: which step, for whom, when, through which channels."""

    enrollment_id: int
    learner_id: int = Field(index=True)
    step_id: str = Field(max_length=128)
    occurrence: int = 0
    kind: str = Field(max_length=32)
    recipient: str = Field(default=Recipient.LEARNER, max_length=16)
    # A content reference, or the text of an inline ``message:``/``task:`` (any length).
    content_ref: str | None = Field(default=None, sa_type=Text)
    channels: list[str] = Field(default_factory=list, sa_type=JSONType)
    due_at: datetime = Field(sa_type=UTCDateTime)
    origin: str = Field(default=DeliveryOrigin.PLAN, max_length=16)


#: Partial-index predicates of the claim's per-learner hold (migration 0011).
IN_FLIGHT = "status IN ('queued', 'sending')"
RETRYING = "status = 'planned' AND attempts > 0"


class Delivery(DeliveryBase, table=True):
    """One send of one step occurrence; unique per (enrollment, step, occurrence, origin)."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step_id", "occurrence", "origin"),
        # One check per row for both ids (the enrolment's learner is checked by the enrolment's
        # own key), and a delivery's learner is its enrolment's (migration 0010).
        ForeignKeyConstraint(["enrollment_id", "learner_id"], ["enrollment.id", "enrollment.learner_id"]),
        Index("ix_delivery_status_due_at", "status", "due_at"),
        # Only rows that have one: planned rows (most of the table, and every row a
        # session's end inserts) carry no provider id yet (migration 0010).
        Index("ix_delivery_provider_id", "provider_id", postgresql_where=text("provider_id IS NOT NULL"),
              sqlite_where=text("provider_id IS NOT NULL")),
        # The claim's per-learner hold looks up an enrolment's rows on their way: two small
        # partial indexes, one per condition (migration 0011; deliveries._held_behind_earlier).
        Index("ix_delivery_in_flight", "enrollment_id", "due_at", postgresql_where=text(IN_FLIGHT),
              sqlite_where=text(IN_FLIGHT)),
        Index("ix_delivery_retrying", "enrollment_id", "id", postgresql_where=text(RETRYING),
              sqlite_where=text(RETRYING)),
        one_of("status", DeliveryStatus),
        one_of("recipient", Recipient),
        one_of("origin", DeliveryOrigin),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=DeliveryStatus.PLANNED, max_length=16)
    status_reason: str | None = Field(default=None, max_length=200)
    channel: str | None = Field(default=None, max_length=16)
    attempts: int = 0
    provider_id: str | None = Field(default=None, max_length=128)
    error_code: str | None = Field(default=None, max_length=64)
    error: str | None = None
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rendered: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    #: The open question this one waits for (``planned``, held back): it goes out once that
    #: question is closed (``engine.services.waiting``; migration 0012).
    waits_for_prompt_id: int | None = None
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(
        default_factory=utc_now, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utc_now}
    )


class DeliveryCreate(DeliveryBase):
    """Planner output ready to insert."""


class DeliveryPublic(DeliveryBase):
    """What the dashboard and audit exports show about a send."""

    id: int
    status: str
    status_reason: str | None = None
    channel: str | None = None
    attempts: int = 0
    error_code: str | None = None
    sent_at: datetime | None = None
    finished_at: datetime | None = None
    rendered: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime


class Prompt(SQLModel, table=True):
    """A question sent on a channel that accepts one answer until ``expires_at``."""

    __tablename__ = "prompt"
    __table_args__ = (
        Index("ix_prompt_learner_id_channel_status", "learner_id", "channel", "status"),
        Index("ix_prompt_status_check_at", "status", "check_at"),
        # The dashboards count prompts per enrollment and status from the index alone.
        Index("ix_prompt_enrollment_id_status", "enrollment_id", "status"),
        one_of("kind", PromptKind),
        one_of("status", PromptStatus),
    )

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="delivery.id", index=True)
    learner_id: int = Field(foreign_key="learner.id")
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    step_id: str = Field(max_length=128)
    channel: str = Field(max_length=16)
    kind: str = Field(max_length=16)
    question_ref: str = Field(max_length=255)
    expectation: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    # When the tick must look at this question next (a reminder, the silence branch or the
    # deadline); None means at ``expires_at``. Keeps the tick's query to what is due.
    check_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str = Field(default=PromptStatus.OPEN, max_length=16)
    clarification_sent: bool = False
    reminders_sent: int = 0
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class InboundEvent(SQLModel, table=True):
    """A raw message or answer as received, stored before the provider is acknowledged."""

    __tablename__ = "inbound_event"
    __table_args__ = (
        UniqueConstraint("provider", "provider_id"),
        Index("ix_inbound_event_status_received_at", "status", "received_at"),
        one_of("status", InboundStatus),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    provider_id: str = Field(max_length=128)
    channel: str = Field(max_length=16)
    sender: str = Field(max_length=512)
    recipient: str | None = Field(default=None, max_length=512)
    body: str = ""
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    received_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default=InboundStatus.RECEIVED, max_length=16)
    learner_id: int | None = Field(default=None, foreign_key="learner.id", index=True)
    error: str | None = None
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class Reply(SQLModel, table=True):
    """A learner's parsed answer (or free text), linked to its prompt when matched."""

    __tablename__ = "reply"

    id: int | None = Field(default=None, primary_key=True)
    inbound_event_id: int | None = Field(default=None, foreign_key="inbound_event.id", index=True)
    prompt_id: int | None = Field(default=None, foreign_key="prompt.id", index=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    enrollment_id: int | None = Field(default=None, foreign_key="enrollment.id", index=True)
    kind: str = Field(max_length=32)
    raw_text: str = ""
    value: Any = Field(default=None, sa_type=JSONType, nullable=True)
    correct: bool | None = None
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class ReviewCard(SQLModel, table=True):
    """Spaced-repetition state of one quiz item for one learner (FSRS card as JSON)."""

    __tablename__ = "review_card"
    __table_args__ = (UniqueConstraint("learner_id", "bank_ref", "item_id"),)

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id")
    bank_ref: str = Field(max_length=255)
    item_id: str = Field(max_length=128)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    retired: bool = False
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(
        default_factory=utc_now, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utc_now}
    )
