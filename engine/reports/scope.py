"""Who sees what: a trainer sees the sessions they lead and those sessions' learners, tickets
and alerts; a quality manager sees everything. Anything out of scope is :class:`NotVisible`
(a 404 on the web side, never a 403 that would confirm it exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, true, union
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.base import TrainerRole
from engine.store.models import (
    Alert,
    Attendance,
    Enrollment,
    Learner,
    Ticket,
    Trainer,
    TrainingSession,
)


class NotVisible(LookupError):
    """The row does not exist or the viewer may not see it (the two are never told apart)."""


@dataclass(frozen=True)
class Viewer:
    """The logged-in person, as the read models need them."""

    trainer_id: int
    name: str
    role: str = TrainerRole.TRAINER
    locale: str = "fr"
    timezone: str = "Europe/Paris"

    @property
    def sees_everything(self) -> bool:
        return self.role == TrainerRole.QUALITY

    @classmethod
    def of(cls, trainer: Trainer) -> Viewer:
        return cls(trainer_id=trainer.id or 0, name=trainer.name, role=trainer.role,
                   locale=trainer.locale or "fr", timezone=trainer.timezone or "Europe/Paris")


def session_ids(viewer: Viewer) -> Select[Any]:
    """The ids of the sessions the viewer may see, as a sub-select."""
    statement = select(col(TrainingSession.id))
    if not viewer.sees_everything:
        statement = statement.where(col(TrainingSession.trainer_id) == viewer.trainer_id)
    return statement


def learner_ids(viewer: Viewer) -> Any:
    """The ids of the learners who attended or are enrolled in a visible session."""
    sessions = session_ids(viewer)
    return union(
        select(col(Attendance.learner_id)).where(col(Attendance.session_id).in_(sessions)),
        select(col(Enrollment.learner_id)).where(col(Enrollment.session_id).in_(sessions)),
    )


def sessions_filter(viewer: Viewer, column: Any) -> ColumnElement[bool]:
    """``column`` (a session id) is one of the viewer's sessions."""
    return true() if viewer.sees_everything else col(column).in_(session_ids(viewer))


def learners_filter(viewer: Viewer, column: Any) -> ColumnElement[bool]:
    """``column`` (a learner id) is one of the viewer's learners."""
    return true() if viewer.sees_everything else col(column).in_(learner_ids(viewer))


def tickets_filter(viewer: Viewer) -> ColumnElement[bool]:
    """A ticket is visible with its session, or (without one) with its learner."""
    if viewer.sees_everything:
        return true()
    return or_(col(Ticket.session_id).in_(session_ids(viewer)),
               col(Ticket.session_id).is_(None) & col(Ticket.learner_id).in_(learner_ids(viewer)))


def alerts_filter(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.sees_everything:
        return true()
    return or_(col(Alert.session_id).in_(session_ids(viewer)),
               col(Alert.session_id).is_(None) & col(Alert.learner_id).in_(learner_ids(viewer)))


async def visible_session(db: AsyncSession, viewer: Viewer, session_id: int) -> TrainingSession:
    row = (await db.exec(select(TrainingSession).where(
        col(TrainingSession.id) == session_id, sessions_filter(viewer, TrainingSession.id)))).first()
    if row is None:
        raise NotVisible(session_id)
    return row


async def visible_learner(db: AsyncSession, viewer: Viewer, learner_id: int) -> Learner:
    row = (await db.exec(select(Learner).where(
        col(Learner.id) == learner_id, col(Learner.erased_at).is_(None),
        learners_filter(viewer, Learner.id)))).first()
    if row is None:
        raise NotVisible(learner_id)
    return row


async def visible_ticket(db: AsyncSession, viewer: Viewer, ticket_id: int) -> Ticket:
    row = (await db.exec(select(Ticket).where(col(Ticket.id) == ticket_id, tickets_filter(viewer)))).first()
    if row is None:
        raise NotVisible(ticket_id)
    return row


async def visible_alert(db: AsyncSession, viewer: Viewer, alert_id: int) -> Alert:
    row = (await db.exec(select(Alert).where(col(Alert.id) == alert_id, alerts_filter(viewer)))).first()
    if row is None:
        raise NotVisible(alert_id)
    return row
