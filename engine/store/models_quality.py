"""Quality evidence: the improvement register (Qualiopi indicator 32), testimonials with
their consent, and the indicators the quality manager chose to publish (indicator 2).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.store.base import ActionSource, ActionStatus, ConsentScope, one_of
from engine.store.types import UTCDateTime, utc_now


class ImprovementAction(SQLModel, table=True):
    """One loop of continuous improvement: source → decision → owner → due → status → review.

    ``source_kind``/``source_id`` point at what prompted it (a ticket, an alert, a testimonial);
    ``source_ref`` names what has no id (a CPF criterion, a survey question, an audit finding).
    """

    __tablename__ = "improvement_action"
    __table_args__ = (
        Index("ix_improvement_action_status_due_on", "status", "due_on"),
        one_of("source_kind", ActionSource),
        one_of("status", ActionStatus),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_kind: str = Field(max_length=16)
    source_id: int | None = None
    source_ref: str | None = Field(default=None, max_length=200)
    session_id: int | None = Field(default=None, foreign_key="training_session.id", index=True)
    finding: str
    decision: str
    owner_id: int | None = Field(default=None, foreign_key="trainer.id", index=True)
    due_on: date | None = None
    status: str = Field(default=ActionStatus.PLANNED, max_length=16)
    effectiveness: str | None = None
    effective: bool | None = None
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="trainer.id")
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Testimonial(SQLModel, table=True):
    """A learner's testimonial and the consent that goes with it.

    ``scope`` is where it may appear (internal only, or the website too); ``named``
    whether with first name and initial; ``withdrawn_at`` removes it from every export.
    """

    __tablename__ = "testimonial"
    __table_args__ = (
        UniqueConstraint("learner_id", "session_id"),
        one_of("scope", ConsentScope),
    )

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    session_id: int | None = Field(default=None, foreign_key="training_session.id")
    text: str = ""
    scope: str = Field(default=ConsentScope.INTERNAL, max_length=16)
    named: bool = False
    consent_at: datetime = Field(sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    approved_by_id: int | None = Field(default=None, foreign_key="trainer.id")
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class PublishedIndicator(SQLModel, table=True):
    """An indicator key the quality manager chose to show on the public page."""

    __tablename__ = "published_indicator"
    __table_args__ = (UniqueConstraint("key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64)
    chosen_by_id: int | None = Field(default=None, foreign_key="trainer.id")
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class DigestLog(SQLModel, table=True):
    """One weekly digest claimed for one person: the unique week makes several workers send it once."""

    __tablename__ = "digest_log"
    __table_args__ = (UniqueConstraint("trainer_id", "week"),)

    id: int | None = Field(default=None, primary_key=True)
    trainer_id: int = Field(foreign_key="trainer.id")
    week: date
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
