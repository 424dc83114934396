"""What a batch of replies needs, loaded in a few queries instead of a few per reply.

For the learners of a batch (each already locked by the caller): their enrolments,
open questions, last grades and review cards, and the rows their feedback is
rendered with (the questions' deliveries, sessions and trainers), put in the
session's identity map so that ``session.get`` finds them without a query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.base import EnrollmentStatus, PromptStatus
from engine.store.models import (
    Delivery,
    Enrollment,
    Prompt,
    Reply,
    ReviewCard,
    Trainer,
    TrainingSession,
)

#: Grades the engine looks back on (``recent_grades``: at-risk rules).
RECENT_GRADES = 8

CardKey = tuple[str, str]


@dataclass
class LoadedReplies:
    """Per learner: enrolments (the active and latest first), open questions (latest first),
    recent grades (latest first) and every review card by (bank, item)."""

    enrollments: dict[int, list[Enrollment]] = field(default_factory=dict)
    prompts: dict[int, list[Prompt]] = field(default_factory=dict)
    grades: dict[int, list[bool]] = field(default_factory=dict)
    cards: dict[int, dict[CardKey, ReviewCard]] = field(default_factory=dict)
    #: Rows only reached through the identity map, which holds them weakly: kept alive here.
    held: list[object] = field(default_factory=list)

    def latest_enrollment(self, learner_id: int) -> Enrollment | None:
        rows = self.enrollments.get(learner_id)
        return rows[0] if rows else None

    def open_prompts(self, learner_id: int, channel: str) -> list[Prompt]:
        return [p for p in self.prompts.get(learner_id, []) if p.channel == channel]

    def cards_of(self, learner_id: int) -> dict[CardKey, ReviewCard]:
        return self.cards.setdefault(learner_id, {})


async def load_replies(session: AsyncSession, learner_ids: set[int], now: datetime) -> LoadedReplies:
    """Everything :func:`engine.services.inbound` reads per reply, for all these learners at once."""
    loaded = LoadedReplies()
    if not learner_ids:
        return loaded
    ids = sorted(learner_ids)
    enrollments = (await session.exec(select(Enrollment).where(col(Enrollment.learner_id).in_(ids)))).all()
    for row in sorted(enrollments, key=lambda e: e.created_at, reverse=True):
        loaded.enrollments.setdefault(row.learner_id, []).append(row)
    for rows in loaded.enrollments.values():
        rows.sort(key=lambda e: e.status != EnrollmentStatus.ACTIVE)  # stable: latest first within each
    prompts = (await session.exec(select(Prompt).where(
        col(Prompt.learner_id).in_(ids), col(Prompt.status) == PromptStatus.OPEN,
        col(Prompt.opened_at) <= now, col(Prompt.expires_at) > now,
    ).order_by(col(Prompt.opened_at).desc(), col(Prompt.id).desc()))).all()
    for prompt in prompts:
        loaded.prompts.setdefault(prompt.learner_id, []).append(prompt)
    rank = func.row_number().over(partition_by=col(Reply.learner_id), order_by=col(Reply.id).desc())
    ranked = (select(col(Reply.learner_id).label("learner_id"), col(Reply.correct).label("correct"),
                     rank.label("rank"))
              .where(col(Reply.learner_id).in_(ids), col(Reply.correct).is_not(None)).subquery())
    for learner_id, correct in (await session.exec(
            select(ranked.c.learner_id, ranked.c.correct).where(ranked.c.rank <= RECENT_GRADES)
            .order_by(ranked.c.learner_id, ranked.c.rank))).all():
        loaded.grades.setdefault(learner_id, []).append(bool(correct))
    for card in (await session.exec(select(ReviewCard).where(col(ReviewCard.learner_id).in_(ids)))).all():
        loaded.cards_of(card.learner_id)[(card.bank_ref, card.item_id)] = card
    loaded.held = [*enrollments, *await _rendering_rows(session, prompts, enrollments)]
    return loaded


async def _rendering_rows(session: AsyncSession, prompts: Sequence[Prompt],
                          enrollments: Sequence[Enrollment]) -> list[object]:
    """The rows feedback rendering reaches with ``session.get`` (see :func:`recipient_for`)."""
    rows: list[object] = []
    delivery_ids = sorted({p.delivery_id for p in prompts})
    if delivery_ids:
        rows += (await session.exec(select(Delivery).where(col(Delivery.id).in_(delivery_ids)))).all()
    session_ids = sorted({e.session_id for e in enrollments if e.session_id is not None})
    if not session_ids:
        return rows
    trainings = (await session.exec(select(TrainingSession).where(col(TrainingSession.id).in_(session_ids)))).all()
    rows += trainings
    trainer_ids = sorted({t.trainer_id for t in trainings if t.trainer_id is not None})
    if trainer_ids:
        rows += (await session.exec(select(Trainer).where(col(Trainer.id).in_(trainer_ids)))).all()
    return rows
