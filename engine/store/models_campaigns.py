"""Training sessions, attendance, pinned campaign versions and enrolments.

An enrolment points at the :class:`CampaignVersion` it started with (found by
content hash), so editing a campaign never changes what enrolled learners get.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from engine.store.base import EnrollmentStatus, TrainingCompletion, one_of
from engine.store.types import JSONType, UTCDateTime, utc_now


class TrainingSessionBase(SQLModel):
    """A course occurrence; its end anchors the default campaigns."""

    external_id: str | None = Field(default=None, max_length=128)
    title: str = Field(max_length=300)
    trainer_id: int | None = Field(default=None, foreign_key="trainer.id", index=True)
    location: str | None = Field(default=None, max_length=300)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime, index=True)
    timezone: str = Field(default="Europe/Paris", max_length=64)
    campaign_names: list[str] = Field(default_factory=list, sa_type=JSONType)


class TrainingSession(TrainingSessionBase, table=True):
    """``ended_processed_at`` marks that the end-of-session enrolment has run."""

    __tablename__ = "training_session"
    # External ids are unique per trainer (each trainer's LMS numbers its own sessions), and
    # among the organisation's sessions with no trainer: one trainer's id tells nothing of another's.
    __table_args__ = (
        UniqueConstraint("trainer_id", "external_id"),
        Index("uq_training_session_org_external_id", "external_id", unique=True,
              sqlite_where=text("trainer_id IS NULL"), postgresql_where=text("trainer_id IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    ended_processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Why the end-of-session enrolment cannot run (a campaign missing or in error), in
    # French for the quality manager; None when all is well. Set once, cleared when fixed.
    problem: str | None = Field(default=None, max_length=500)
    problem_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class TrainingSessionCreate(TrainingSessionBase):
    """API input for a session."""


class TrainingSessionPublic(TrainingSessionBase):
    """What the API returns about a session."""

    id: int
    ended_processed_at: datetime | None = None
    created_at: datetime


class Attendance(SQLModel, table=True):
    """Who attended which session (drives enrolment when the session ends)."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("session_id", "learner_id"),
                      one_of("training_completion", TrainingCompletion))

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="training_session.id")
    learner_id: int = Field(foreign_key="learner.id", index=True)
    # The training's own outcome for this attendee when the organisation reports it.
    training_completion: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class CampaignVersion(SQLModel, table=True):
    """An immutable campaign snapshot, deduplicated by the sha256 of its definition."""

    __tablename__ = "campaign_version"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, index=True)
    content_hash: str = Field(max_length=64, unique=True)
    definition: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class EnrollmentBase(SQLModel):
    """A learner following one campaign, from an anchor moment."""

    learner_id: int = Field(foreign_key="learner.id")
    session_id: int | None = Field(default=None, foreign_key="training_session.id", index=True)
    campaign_name: str = Field(max_length=128)
    anchor_at: datetime = Field(sa_type=UTCDateTime)


class Enrollment(EnrollmentBase, table=True):
    """Unique per (learner, session, campaign): enrolling twice is a no-op.

    With ``session_id`` NULL the constraint does not apply (NULLs are distinct on
    both backends); callers enrolling outside a session check for duplicates.
    """

    __tablename__ = "enrollment"
    __table_args__ = (
        UniqueConstraint("learner_id", "session_id", "campaign_name"),
        # What a delivery's (enrollment_id, learner_id) refers to: one foreign-key check per
        # delivery row instead of two (migration 0010).
        UniqueConstraint("id", "learner_id"),
        one_of("status", EnrollmentStatus),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_version_id: int = Field(foreign_key="campaign_version.id", index=True)
    status: str = Field(default=EnrollmentStatus.ACTIVE, max_length=16)
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stopped_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(
        default_factory=utc_now, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utc_now}
    )


class EnrollmentCreate(EnrollmentBase):
    """API input; the engine resolves and pins the campaign version."""


class EnrollmentPublic(EnrollmentBase):
    """What the API returns about an enrolment."""

    id: int
    campaign_version_id: int
    status: str
    paused_at: datetime | None = None
    stopped_reason: str | None = None
    created_at: datetime
    updated_at: datetime
