"""Writing what an LMS sends: sessions (upsert by external id); attendees go through
:func:`engine.services.attendees.add_attendees`, shared with the CSV import.

Data-access functions with keyword arguments and a caller's session; they
flush but never commit, so a route makes the whole import one transaction.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services.api_models import SessionIn, SessionOut
from engine.store.models import Attendance, Enrollment, TrainingSession


class AmbiguousSession(LookupError):
    """Several trainers' sessions carry this external id, and the caller named none."""


async def find_session(session: AsyncSession, *, external_id: str, trainer_id: int | None,
                       organisation: bool) -> TrainingSession | None:
    """The session an LMS means by ``external_id``: external ids are numbered per trainer.

    A trainer's key looks among that trainer's sessions only, so another
    trainer's id is simply unknown to it. An organisation key looks among the
    named trainer's sessions and the organisation's own (no trainer); naming no
    trainer, it finds the organisation's own, else the only session with that id.
    """
    statement = select(TrainingSession).where(col(TrainingSession.external_id) == external_id)
    if not organisation:
        return (await session.exec(statement.where(
            col(TrainingSession.trainer_id) == trainer_id))).first()
    candidates = list((await session.exec(statement.order_by(col(TrainingSession.id)))).all())
    for wanted in (trainer_id, None):
        for candidate in candidates:
            if candidate.trainer_id == wanted:
                return candidate
    if trainer_id is not None or not candidates:
        return None
    if len(candidates) > 1:
        raise AmbiguousSession(external_id)
    return candidates[0]


async def upsert_session(session: AsyncSession, *, data: SessionIn, trainer_id: int | None,
                         organisation: bool) -> tuple[TrainingSession, bool]:
    """The session with ``data.external_id``, created or brought up to date; True when new.

    A session whose end-of-session enrolment already ran keeps its campaigns:
    changing them then would silently not apply.
    """
    training = await find_session(session, external_id=data.external_id, trainer_id=trainer_id,
                                  organisation=organisation)
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
