"""People: trainers (and their API keys), learners (and their push tokens).

A learner's consent and opt-outs live on the learner row, one pair per channel:
``consent_*`` is what the organisation collected at enrolment, ``opted_out_*_at``
is the learner's own STOP, which always wins and is never sent to again.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from engine.store.base import TrainerRole, metadata, one_of  # noqa: F401  (naming convention first)
from engine.store.types import UTCDateTime, utc_now

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"


class Trainer(SQLModel, table=True):
    """A trainer or quality manager who logs into the dashboard.

    ``password_hash`` is empty until the person sets a password (invitation);
    ``failed_logins`` and ``locked_until`` implement the lockout after repeated
    failures; ``disabled_at`` keeps the row (history) while refusing logins.
    """

    __tablename__ = "trainer"
    __table_args__ = (one_of("role", TrainerRole),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320, unique=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(default=TrainerRole.TRAINER, max_length=16)
    locale: str = Field(default="fr", max_length=16)
    timezone: str = Field(default="Europe/Paris", max_length=64)
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    password_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    digest_opt_out: bool = False
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """An integration key; only its hash is stored, revocation keeps the row."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    key_hash: str = Field(max_length=128, unique=True)
    trainer_id: int | None = Field(default=None, foreign_key="trainer.id", index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LearnerBase(SQLModel):
    """Fields a caller may set when enrolling or importing a learner."""

    external_id: str | None = Field(default=None, max_length=128, index=True)
    first_name: str = Field(max_length=120)
    last_name: str = Field(max_length=120)
    phone: str | None = Field(default=None, max_length=16, index=True, regex=E164_PATTERN)
    email: str | None = Field(default=None, max_length=320, index=True)
    locale: str = Field(default="fr", max_length=16)
    timezone: str = Field(default="Europe/Paris", max_length=64)
    manager_name: str | None = Field(default=None, max_length=200)
    manager_email: str | None = Field(default=None, max_length=320)
    manager_phone: str | None = Field(default=None, max_length=16, regex=E164_PATTERN)
    company: str | None = Field(default=None, max_length=200, index=True)
    consent_sms: bool = True
    consent_whatsapp: bool = True
    consent_push: bool = True
    consent_email: bool = True
    at_risk: bool = False
    # Why a person marked the learner at risk (the engine's own marks leave it empty).
    at_risk_reason: str | None = Field(default=None, max_length=300)


class Learner(LearnerBase, table=True):
    """A trainee; erasure blanks personal fields and stamps ``erased_at``."""

    __tablename__ = "learner"

    id: int | None = Field(default=None, primary_key=True)
    opted_out_sms_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opted_out_whatsapp_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opted_out_push_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opted_out_email_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class LearnerCreate(LearnerBase):
    """API/CSV input: validated (E.164 phone, lengths) before it becomes a row.

    ``training_completion`` belongs to the attendance, not the learner: excluded from dumps.
    """

    training_completion: str | None = Field(default=None, regex=r"^(completed|abandoned)$",
                                            exclude=True)


class LearnerPublic(LearnerBase):
    """What the API returns about a learner."""

    id: int
    opted_out_sms_at: datetime | None = None
    opted_out_whatsapp_at: datetime | None = None
    opted_out_push_at: datetime | None = None
    opted_out_email_at: datetime | None = None
    erased_at: datetime | None = None
    created_at: datetime


class PushToken(SQLModel, table=True):
    """A device token for the learner app; disabled when the provider rejects it."""

    __tablename__ = "push_token"

    id: int | None = Field(default=None, primary_key=True)
    learner_id: int = Field(foreign_key="learner.id", index=True)
    token: str = Field(max_length=512, unique=True)
    platform: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
