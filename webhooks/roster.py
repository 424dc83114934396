"""Writing what an LMS sends: sessions (upsert by external id) and their attendees.

Data-access functions with keyword arguments and a caller's session; they
flush but never commit, so a route makes the whole import one transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.models import Attendance, Enrollment, Learner, LearnerCreate, TrainingSession
from webhooks.integration_models import AttendeeResult, SessionIn, SessionOut


async def upsert_session(session: AsyncSession, *, data: SessionIn, trainer_id: int | None
                         ) -> tuple[TrainingSession, bool]:
    """The session with ``data.external_id``, created or brought up to date; True when new.

    A session whose end-of-session enrolment already ran keeps its campaigns:
    changing them then would silently not apply.
    """
    training = (await session.exec(select(TrainingSession).where(
        col(TrainingSession.external_id) == data.external_id))).first()
    created = training is None
    if training is None:
        training = TrainingSession(external_id=data.external_id, title=data.title,
                                   starts_at=data.starts_at, ends_at=data.ends_at)
    training.title = data.title
    training.starts_at = data.starts_at
    training.timezone = data.timezone
    training.location = data.location
    training.trainer_id = trainer_id if trainer_id is not None else training.trainer_id
    if training.ended_processed_at is None:
        training.ends_at = data.ends_at
        training.campaign_names = list(data.campaigns)
    session.add(training)
    await session.flush()
    return training, created


async def describe_session(session: AsyncSession, training: TrainingSession, *,
                           created: bool = False) -> SessionOut:
    attendees = (await session.exec(select(func.count()).select_from(Attendance).where(
        col(Attendance.session_id) == training.id))).one()
    enrollments = (await session.exec(select(func.count()).select_from(Enrollment).where(
        col(Enrollment.session_id) == training.id))).one()
    return SessionOut(
        id=training.id or 0, external_id=training.external_id, title=training.title,
        starts_at=training.starts_at, ends_at=training.ends_at, timezone=training.timezone,
        location=training.location, trainer_id=training.trainer_id,
        campaigns=list(training.campaign_names), ended_processed_at=training.ended_processed_at,
        attendees=int(attendees), enrollments=int(enrollments), created=created)


async def _existing_learner(session: AsyncSession, data: LearnerCreate) -> Learner | None:
    for column, value in ((Learner.external_id, data.external_id), (Learner.phone, data.phone),
                          (Learner.email, data.email)):
        if value:
            found = (await session.exec(select(Learner).where(
                col(column) == value, col(Learner.erased_at).is_(None))
                .order_by(col(Learner.id).desc()).limit(1))).first()
            if found is not None:
                return found
    return None


async def add_attendees(session: AsyncSession, *, training: TrainingSession,
                        learners: list[LearnerCreate], now: datetime) -> list[AttendeeResult]:
    """Create or update each learner and record attendance (idempotent per learner).

    New attendees of a session whose end was already processed re-open that
    processing, so the next tick enrols them (enrolment is idempotent for the others).
    """
    results: list[AttendeeResult] = []
    added = False
    for row, data in enumerate(learners, start=1):
        learner = await _existing_learner(session, data)
        created = learner is None
        if learner is None:
            learner = Learner.model_validate(data)
        else:
            for name, value in data.model_dump(exclude_unset=True).items():
                setattr(learner, name, value)
        session.add(learner)
        await session.flush()
        assert learner.id is not None and training.id is not None
        present = (await session.exec(select(Attendance).where(
            col(Attendance.session_id) == training.id,
            col(Attendance.learner_id) == learner.id))).first()
        if present is None:
            session.add(Attendance(session_id=training.id, learner_id=learner.id, created_at=now,
                                   training_completion=data.training_completion))
            added = True
        elif data.training_completion is not None:
            present.training_completion = data.training_completion
            session.add(present)
        results.append(AttendeeResult(row=row, learner_id=learner.id, created=created))
    if added and training.ended_processed_at is not None:
        training.ended_processed_at = None
        session.add(training)
    await session.flush()
    return results
