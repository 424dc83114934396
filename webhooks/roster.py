"""Writing what an LMS sends: sessions (upsert by external id); attendees go through
:func:`engine.services.attendees.add_attendees`, shared with the CSV import.

Data-access functions with keyword arguments and a caller's session; they
flush but never commit, so a route makes the whole import one transaction.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.models import Attendance, Enrollment, TrainingSession
from webhooks.integration_models import SessionIn, SessionOut


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
