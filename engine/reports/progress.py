"""Where a learner stands: read-only queries shared by the integration API and the dashboard.

Plain async functions over a session, returning pydantic models, so a
trainer's page and an LMS see the same figures computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.spaced import ReviewState, retrievability
from engine.services.visibility import Viewer, enrollment_ids_of, session_ids_of
from engine.store.base import PromptKind, TicketStatus
from engine.store.models import Alert, Delivery, Prompt, Reply, ReviewCard, Ticket

SURVEY_KINDS = (PromptKind.SURVEY.value, PromptKind.CHECKIN.value)
QUIZ_KINDS = ("quiz", "review")


class QuizStats(BaseModel):
    answered: int
    correct: int
    accuracy: float | None


class Satisfaction(BaseModel):
    question_ref: str | None
    kind: str
    value: Any
    text: str
    at: datetime


class TicketSummary(BaseModel):
    id: int
    status: str
    created_at: datetime
    due_by: datetime


class AlertSummary(BaseModel):
    id: int
    kind: str
    reason: str
    created_at: datetime


class Progress(BaseModel):
    learner_id: int
    enrollment_id: int | None = None
    steps: dict[str, int]
    steps_total: int
    quiz: QuizStats
    items_total: int
    items_retired: int
    retention_now: float | None
    satisfaction: list[Satisfaction]
    open_tickets: list[TicketSummary]
    alerts: list[AlertSummary]


async def learner_progress(session: AsyncSession, *, learner_id: int, now: datetime,
                           viewer: Viewer | None = None) -> Progress:
    """Progress over the learner's enrolments that ``viewer`` may see (default: all)."""
    if viewer is None or viewer.is_organisation:
        return await _progress(session, learner_id=learner_id, enrollment_id=None, now=now)
    return await _progress(session, learner_id=learner_id, enrollment_id=None, now=now,
                           within=enrollment_ids_of(viewer), sessions=session_ids_of(viewer))


async def enrollment_progress(session: AsyncSession, *, learner_id: int, enrollment_id: int,
                              now: datetime) -> Progress:
    """Progress within one enrolment (review cards: the quiz banks that enrolment sent)."""
    return await _progress(session, learner_id=learner_id, enrollment_id=enrollment_id, now=now)


async def _progress(session: AsyncSession, *, learner_id: int, enrollment_id: int | None,
                    now: datetime, within: Any = None, sessions: Any = None) -> Progress:
    """``within``/``sessions``: sub-selects of the enrolments and sessions to count (None: all)."""
    scope = _Scope(learner_id, enrollment_id, within)
    steps = await _steps(session, scope)
    cards = await _cards(session, scope)
    states = [ReviewState.from_dict(card.state) for card in cards if card.state]
    retention = (sum(retrievability(s, now=now) for s in states) / len(states)) if states else None
    return Progress(
        learner_id=learner_id, enrollment_id=enrollment_id, steps=steps,
        steps_total=sum(steps.values()), quiz=await _quiz(session, scope),
        items_total=len(cards), items_retired=sum(1 for card in cards if card.retired),
        retention_now=round(retention, 4) if retention is not None else None,
        satisfaction=await _satisfaction(session, scope),
        open_tickets=await _tickets(session, learner_id, sessions),
        alerts=await _alerts(session, scope))


@dataclass(frozen=True)
class _Scope:
    learner_id: int
    enrollment_id: int | None
    within: Any

    def narrow(self, statement: Any, column: Any) -> Any:
        """``statement`` limited to the enrolment asked for and to those the viewer may see."""
        if self.enrollment_id is not None:
            statement = statement.where(column == self.enrollment_id)
        if self.within is not None:
            statement = statement.where(column.in_(self.within))
        return statement


async def _steps(session: AsyncSession, scope: _Scope) -> dict[str, int]:
    statement = scope.narrow(select(Delivery.status, func.count())
                             .where(col(Delivery.learner_id) == scope.learner_id)
                             .group_by(col(Delivery.status)), col(Delivery.enrollment_id))
    return {str(state): int(count) for state, count in (await session.exec(statement)).all()}


async def _quiz(session: AsyncSession, scope: _Scope) -> QuizStats:
    statement = scope.narrow(select(Reply.correct).where(
        col(Reply.learner_id) == scope.learner_id, col(Reply.correct).is_not(None)),
        col(Reply.enrollment_id))
    graded = list((await session.exec(statement)).all())
    correct = sum(1 for value in graded if value)
    return QuizStats(answered=len(graded), correct=correct,
                     accuracy=round(correct / len(graded), 4) if graded else None)


async def _cards(session: AsyncSession, scope: _Scope) -> list[ReviewCard]:
    statement = select(ReviewCard).where(col(ReviewCard.learner_id) == scope.learner_id)
    if scope.enrollment_id is not None or scope.within is not None:
        banks = scope.narrow(select(Delivery.content_ref).where(
            col(Delivery.learner_id) == scope.learner_id, col(Delivery.kind).in_(QUIZ_KINDS)),
            col(Delivery.enrollment_id))
        statement = statement.where(col(ReviewCard.bank_ref).in_(banks))
    return list((await session.exec(statement.order_by(col(ReviewCard.id)))).all())


async def _satisfaction(session: AsyncSession, scope: _Scope) -> list[Satisfaction]:
    statement = scope.narrow(
        select(Reply, Prompt.question_ref)
        .join(Prompt, col(Prompt.id) == col(Reply.prompt_id), isouter=True)
        .where(col(Reply.learner_id) == scope.learner_id, col(Reply.kind).in_(SURVEY_KINDS))
        .order_by(col(Reply.created_at), col(Reply.id)), col(Reply.enrollment_id))
    return [Satisfaction(question_ref=ref, kind=reply.kind, value=reply.value,
                         text=reply.raw_text, at=reply.created_at)
            for reply, ref in (await session.exec(statement)).all()]


async def _tickets(session: AsyncSession, learner_id: int, sessions: Any
                   ) -> list[TicketSummary]:
    statement = (select(Ticket).where(col(Ticket.learner_id) == learner_id,
                                      col(Ticket.status) == TicketStatus.OPEN)
                 .order_by(col(Ticket.due_by)))
    if sessions is not None:  # a trainer sees the questions asked about their sessions only
        statement = statement.where(col(Ticket.session_id).in_(sessions))
    return [TicketSummary(id=t.id or 0, status=t.status, created_at=t.created_at, due_by=t.due_by)
            for t in (await session.exec(statement)).all()]


async def _alerts(session: AsyncSession, scope: _Scope) -> list[AlertSummary]:
    statement = scope.narrow(select(Alert).where(col(Alert.learner_id) == scope.learner_id,
                                                 col(Alert.acknowledged_at).is_(None)),
                             col(Alert.enrollment_id))
    return [AlertSummary(id=a.id or 0, kind=a.kind, reason=a.reason, created_at=a.created_at)
            for a in (await session.exec(statement.order_by(col(Alert.created_at)))).all()]
