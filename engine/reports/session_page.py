"""One session: delivery funnel, CPF criteria, NPS, verbatims, quiz items, retention, cold survey,
action plans and the learners × steps grid."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.spaced import ReviewState, mean_retrievability
from engine.reports import figures
from engine.reports.content import CPF_CRITERIA, ContentIndex
from engine.reports.facts import (
    Answer,
    fetch,
    first_quiz_answers,
    ratings_by_criterion,
    session_facts,
)
from engine.reports.scope import Viewer, visible_session
from engine.reports.verbatims import Piece, highlight
from engine.store.base import DeliveryStatus, Recipient
from engine.store.models import Delivery, Enrollment, Learner, Prompt, Reply, ReviewCard, Trainer

SENT = {DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ}
DELIVERED = {DeliveryStatus.DELIVERED, DeliveryStatus.READ}
RETENTION_HORIZONS = (0, 7, 30, 90)


class FunnelRow(BaseModel):
    channel: str
    planned: int
    sent: int
    delivered: int
    replied: int
    failed: int
    failures: list[tuple[str, int]]


class CriterionRow(BaseModel):
    criterion: str
    summary: figures.RatingSummary


class Verbatim(BaseModel):
    learner_id: int
    learner: str
    at: datetime
    pieces: list[Piece]
    flagged: bool


class QuizItemRow(BaseModel):
    ref: str
    question: str
    first: figures.Rate
    latest: figures.Rate
    misconception: str | None
    misconception_count: int
    wrong_choices: list[tuple[str, int]]


class RetentionPoint(BaseModel):
    days: int
    mean: float | None
    n: int


class GridCell(BaseModel):
    state: str  # answered | correct | wrong | silent | failed | sent | planned | cancelled


class GridRow(BaseModel):
    learner_id: int
    name: str
    at_risk: bool
    cells: list[GridCell | None]


class SessionView(BaseModel):
    id: int
    title: str
    trainer: str | None
    location: str | None
    starts_at: datetime
    ends_at: datetime
    learners: int
    response: figures.Rate
    funnel: list[FunnelRow]
    not_yet_sent: int
    criteria: list[CriterionRow]
    satisfied: figures.Rate
    nps: figures.Nps
    supported: figures.Rate
    verbatims: list[Verbatim]
    quiz_items: list[QuizItemRow]
    retention: list[RetentionPoint]
    cold_applied: figures.Rate
    cold_results: list[Verbatim]
    action_plans: list[tuple[str, int]]
    steps: list[tuple[str, str]]
    grid: list[GridRow]

    @property
    def cell_states(self) -> tuple[str, ...]:
        """Every state a grid cell can show (the template labels each once, not once per cell)."""
        return tuple(_RANK)


async def session_page(db: AsyncSession, viewer: Viewer, session_id: int, *, now: datetime) -> SessionView:
    training = await visible_session(db, viewer, session_id)
    trainer = await db.get(Trainer, training.trainer_id) if training.trainer_id else None
    facts_by, index = await session_facts(db, [session_id], now=now)
    facts = facts_by[session_id]
    learners = {row.id or 0: row for (row,) in await fetch(db, sa_select(Learner).where(
        col(Learner.id).in_(sa_select(col(Enrollment.learner_id)).where(
            col(Enrollment.session_id) == session_id))).order_by(col(Learner.last_name), col(Learner.first_name)))}
    names = {lid: _name(row) for lid, row in learners.items()}
    answers = facts.answers
    by_criterion = ratings_by_criterion(answers, index)
    funnel, not_yet = await _funnel(db, session_id)
    steps, grid = await _grid(db, session_id, index, learners)
    return SessionView(
        id=session_id, title=training.title, trainer=trainer.name if trainer else None,
        location=training.location, starts_at=training.starts_at, ends_at=training.ends_at,
        learners=facts.learners, response=figures.rate(facts.answered, facts.prompts), funnel=funnel,
        not_yet_sent=not_yet,
        criteria=[CriterionRow(criterion=c, summary=figures.rating_summary(by_criterion.get(c, [])))
                  for c in CPF_CRITERIA],
        satisfied=figures.satisfied_share([v for values in by_criterion.values() for v in values]),
        nps=figures.nps(figures.hot_nps_scores(answers, index)),
        supported=_yes_share(a for a in answers if a.question.endswith("#accompagne")),
        verbatims=_texts(answers, index, names, cold=False),
        quiz_items=_quiz_items(answers, index),
        retention=await _retention(db, list(learners), index, now),
        cold_applied=_yes_share(a for a in answers if "froid" in a.question
                                and (info := index.question(a.question)) is not None and info.type == "yes_no"),
        cold_results=_texts(answers, index, names, cold=True),
        action_plans=_plans(answers, index),
        steps=steps, grid=grid)


def _name(learner: Learner) -> str:
    return f"{learner.first_name} {learner.last_name}".strip() or f"#{learner.id}"


def _yes_share(answers: Any) -> figures.Rate:
    values = [a.value for a in answers if isinstance(a.value, bool)]
    return figures.rate(sum(1 for v in values if v), len(values))


def _texts(answers: list[Answer], index: ContentIndex, names: dict[int, str], *, cold: bool) -> list[Verbatim]:
    out = []
    for answer in answers:
        info = index.question(answer.question)
        if info is None or info.type != "text" or not isinstance(answer.value, str) or not answer.value.strip():
            continue
        if ("froid" in answer.question) != cold:
            continue
        pieces = highlight(answer.value)
        out.append(Verbatim(learner_id=answer.learner_id, learner=names.get(answer.learner_id, "?"),
                            at=answer.at, pieces=pieces, flagged=any(p.flagged for p in pieces)))
    return sorted(out, key=lambda v: (not v.flagged, v.at))


def _quiz_items(answers: list[Answer], index: ContentIndex) -> list[QuizItemRow]:
    by_item: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        if answer.kind in ("quiz", "review") and answer.correct is not None:
            by_item[answer.question].append(answer)
    rows = []
    for ref, items in sorted(by_item.items()):
        item = index.items.get(ref)
        latest: dict[int, bool] = {}
        for a in items:
            latest[a.learner_id] = bool(a.correct)
        wrong = Counter(str(a.value) for a in items if not a.correct and a.value is not None)
        labelled = [(f"{letter} — {_choice(item, letter)}", count) for letter, count in wrong.most_common()]
        top = labelled[0] if labelled else None
        rows.append(QuizItemRow(ref=ref, question=item.question if item else ref,
                                first=figures.accuracy(first_quiz_answers(items)),
                                latest=figures.accuracy(latest.values()),
                                misconception=top[0] if top else None, misconception_count=top[1] if top else 0,
                                wrong_choices=labelled))
    return rows


def _choice(item: Any, letter: str) -> str:
    if item is None or len(letter) != 1:
        return ""
    position = ord(letter) - ord("A")
    return str(item.choices[position]) if 0 <= position < len(item.choices) else ""


def _plans(answers: list[Answer], index: ContentIndex) -> list[tuple[str, int]]:
    latest: dict[int, str] = {}
    for answer in answers:
        info = index.question(answer.question)
        if answer.kind == "checkin" and info is not None and info.type == "choice" and answer.value is not None:
            latest[answer.learner_id] = str(answer.value)
    return Counter(latest.values()).most_common()


async def _funnel(db: AsyncSession, session_id: int) -> tuple[list[FunnelRow], int]:
    statement = sa_select(col(Delivery.channel), col(Delivery.status), col(Delivery.status_reason),
                          func.count()).join(Enrollment, col(Enrollment.id) == col(Delivery.enrollment_id)).where(
        col(Enrollment.session_id) == session_id, col(Delivery.recipient) == Recipient.LEARNER).group_by(
        col(Delivery.channel), col(Delivery.status), col(Delivery.status_reason))
    rows: dict[str, FunnelRow] = {}
    not_yet = 0
    for channel, status, reason, count in await fetch(db, statement):
        if channel is None:
            if status in (DeliveryStatus.PLANNED, DeliveryStatus.QUEUED, DeliveryStatus.SENDING):
                not_yet += count
                continue
            channel = "aucun"
        row = rows.setdefault(channel, FunnelRow(channel=channel, planned=0, sent=0, delivered=0, replied=0,
                                                 failed=0, failures=[]))
        row.planned += count
        if status in SENT:
            row.sent += count
        if status in DELIVERED:
            row.delivered += count
        if status in (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED, DeliveryStatus.EXPIRED):
            row.failed += count
            row.failures.append((reason or status, count))
    replied = sa_select(col(Prompt.channel), func.count()).join(
        Enrollment, col(Enrollment.id) == col(Prompt.enrollment_id)).where(
        col(Enrollment.session_id) == session_id, col(Prompt.status) == "answered").group_by(col(Prompt.channel))
    for channel, count in await fetch(db, replied):
        if channel in rows:
            rows[channel].replied = count
    for row in rows.values():
        row.failures.sort(key=lambda pair: -pair[1])
    return sorted(rows.values(), key=lambda r: -r.planned), not_yet


async def _retention(db: AsyncSession, learner_ids: list[int], index: ContentIndex, now: datetime
                     ) -> list[RetentionPoint]:
    banks = sorted({ref.split("#", 1)[0] for ref in index.items})
    if not learner_ids or not banks:
        return [RetentionPoint(days=d, mean=None, n=0) for d in RETENTION_HORIZONS]
    cards = [state for (state,) in await fetch(db, sa_select(col(ReviewCard.state)).where(
        col(ReviewCard.learner_id).in_(learner_ids), col(ReviewCard.bank_ref).in_(banks)))]
    states = []
    for card in cards:
        try:
            states.append(ReviewState.from_dict(card))
        except (KeyError, TypeError, ValueError):
            continue
    means = mean_retrievability(states, [now + timedelta(days=days) for days in RETENTION_HORIZONS])
    return [RetentionPoint(days=days, mean=mean, n=len(states)) for days, mean in zip(RETENTION_HORIZONS, means, strict=True)]


async def _grid(db: AsyncSession, session_id: int, index: ContentIndex, learners: dict[int, Learner]
                ) -> tuple[list[tuple[str, str]], list[GridRow]]:
    statement = sa_select(col(Delivery.learner_id), col(Delivery.step_id), col(Delivery.status),
                          col(Prompt.status), col(Delivery.due_at)).join(
        Enrollment, col(Enrollment.id) == col(Delivery.enrollment_id)).join(
        Prompt, col(Prompt.delivery_id) == col(Delivery.id), isouter=True).where(
        col(Enrollment.session_id) == session_id, col(Delivery.recipient) == Recipient.LEARNER,
        col(Delivery.origin) == "plan").order_by(col(Delivery.due_at))
    quiz_right = sa_select(col(Reply.learner_id), col(Prompt.step_id), col(Reply.correct)).join(
        Prompt, col(Prompt.id) == col(Reply.prompt_id)).join(
        Enrollment, col(Enrollment.id) == col(Prompt.enrollment_id)).where(
        col(Enrollment.session_id) == session_id, col(Reply.correct).is_not(None))
    graded: dict[tuple[int, str], list[bool]] = defaultdict(list)
    for learner_id, step_id, correct in await fetch(db, quiz_right):
        graded[(learner_id, step_id)].append(bool(correct))
    order: list[str] = []
    cells: dict[tuple[int, str], str] = {}
    for learner_id, step_id, status, prompt_status, _due in await fetch(db, statement):
        if step_id not in order:
            order.append(step_id)
        state = _cell_state(status, prompt_status, graded.get((learner_id, step_id)))
        previous = cells.get((learner_id, step_id))
        if previous is None or _RANK[state] > _RANK[previous]:
            cells[(learner_id, step_id)] = state
    steps = [(step, index.step_titles.get(step, step)) for step in order]
    grid = [GridRow(learner_id=lid, name=_name(row), at_risk=row.at_risk,
                    cells=[GridCell(state=cells[(lid, s)]) if (lid, s) in cells else None for s in order])
            for lid, row in learners.items()]
    return steps, grid


_RANK = {"planned": 0, "cancelled": 1, "sent": 2, "silent": 3, "failed": 4, "answered": 5, "wrong": 6,
         "correct": 7}


def _cell_state(status: str, prompt_status: str | None, graded: list[bool] | None) -> str:
    if status in (DeliveryStatus.FAILED, DeliveryStatus.EXPIRED) or (
            status == DeliveryStatus.SKIPPED):
        return "failed"
    if status == DeliveryStatus.CANCELLED:
        return "cancelled"
    if status not in SENT:
        return "planned"
    if prompt_status == "answered":
        if graded:
            return "correct" if sum(graded) * 2 >= len(graded) else "wrong"
        return "answered"
    if prompt_status in ("expired", "superseded"):
        return "silent"
    return "sent"
