"""What a caller may see: the one place that scopes sessions, learners, enrolments and tickets.

A :class:`Viewer` is a trainer (sees the sessions they lead, the learners who
attend them and the enrolments made from them) or the whole organisation
(``trainer_id`` None: an organisation API key, a quality manager). Routes ask
these helpers and answer 404 on None, so "not yours" and "does not exist" look
the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, exists, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.models import Attendance, Enrollment, Learner, Ticket, TrainingSession


@dataclass(frozen=True)
class Viewer:
    """Who is asking; ``trainer_id`` None means the whole organisation."""

    trainer_id: int | None

    @property
    def is_organisation(self) -> bool:
        return self.trainer_id is None


def session_ids_of(viewer: Viewer) -> Any:
    """A sub-select of the ids of the sessions the viewer leads."""
    return select(TrainingSession.id).where(col(TrainingSession.trainer_id) == viewer.trainer_id)


def learner_ids_of(viewer: Viewer) -> Any:
    """A sub-select of the ids of the learners attending the viewer's sessions."""
    return select(Attendance.learner_id).where(
        col(Attendance.session_id).in_(session_ids_of(viewer)))


def enrollment_ids_of(viewer: Viewer) -> Any:
    """A sub-select of the ids of enrolments made from the viewer's sessions."""
    return select(Enrollment.id).where(col(Enrollment.session_id).in_(session_ids_of(viewer)))


async def visible_session(session: AsyncSession, viewer: Viewer, session_id: int
                          ) -> TrainingSession | None:
    training = await session.get(TrainingSession, session_id)
    if training is None or (not viewer.is_organisation
                            and training.trainer_id != viewer.trainer_id):
        return None
    return training


async def visible_learner(session: AsyncSession, viewer: Viewer, learner_id: int
                          ) -> Learner | None:
    """The learner if they attend one of the viewer's sessions (never an erased one)."""
    learner = await session.get(Learner, learner_id)
    if learner is None or learner.erased_at is not None:
        return None
    if viewer.is_organisation:
        return learner
    mine = select(Attendance.id).where(col(Attendance.learner_id) == learner_id,
                                       col(Attendance.session_id).in_(session_ids_of(viewer)))
    return learner if (await session.exec(select(exists(mine)))).one() else None


async def visible_enrollment(session: AsyncSession, viewer: Viewer, enrollment_id: int
                             ) -> Enrollment | None:
    """The enrolment if it was made from one of the viewer's sessions.

    A learner shared by two trainers has one enrolment per session: a trainer
    acts on theirs only, never on the other trainer's.
    """
    enrollment = await session.get(Enrollment, enrollment_id)
    if enrollment is None:
        return None
    if viewer.is_organisation:
        return enrollment
    if enrollment.session_id is None:
        return None
    training = await session.get(TrainingSession, enrollment.session_id)
    return enrollment if training is not None and training.trainer_id == viewer.trainer_id else None


async def visible_ticket(session: AsyncSession, viewer: Viewer, ticket_id: int) -> Ticket | None:
    """The ticket if it came from one of the viewer's sessions (else: if its learner is visible).

    A ticket with neither a session nor a learner is the organisation's only.
    """
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return None
    if viewer.is_organisation:
        return ticket
    if ticket.session_id is not None:
        return ticket if await visible_session(session, viewer, ticket.session_id) else None
    if ticket.learner_id is None:
        return None
    return ticket if await visible_learner(session, viewer, ticket.learner_id) else None
