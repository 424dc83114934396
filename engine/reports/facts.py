"""Per-session aggregates shared by the overview, the session page and the exports.

Each function is one query over any number of sessions (grouped by session),
so a page's query count does not grow with its sessions or learners.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import distinct, func
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.reports.content import ContentIndex, answer_of, load_index
from engine.store.base import PromptStatus, TicketStatus
from engine.store.models import Alert, Enrollment, Learner, Prompt, Reply, Ticket


async def fetch(db: AsyncSession, statement: Any) -> list[Any]:
    """Rows of a core (multi-column) select; typed loosely, the callers unpack them."""
    return list((await db.exec(statement)).all())


ANSWER_KINDS = ("quiz", "review", "survey", "checkin")


@dataclass(frozen=True)
class Answer:
    """One graded or recorded reply, with what it answered."""

    session_id: int
    learner_id: int
    kind: str
    question: str
    value: Any
    correct: bool | None
    at: datetime
    #: How many identical answers this row stands for (grouped rows have no learner: ``learner_id`` 0).
    count: int = 1


@dataclass
class SessionFacts:
    learners: int = 0
    prompts: int = 0
    answered: int = 0
    open_alerts: int = 0
    overdue_tickets: int = 0
    at_risk: int = 0
    answers: list[Answer] = field(default_factory=list)


async def session_facts(db: AsyncSession, session_ids: Sequence[int], *, now: datetime, grouped: bool = False
                        ) -> tuple[dict[int, SessionFacts], ContentIndex]:
    """Counts and answers of each session, plus the content needed to read the answers.

    ``grouped`` (the overview, over many sessions) lets the database count identical answers per
    session and month instead of returning one row per reply; figures are the same except that a
    learner answering the same quiz item twice in a quiz step counts twice.
    """
    facts: dict[int, SessionFacts] = defaultdict(SessionFacts)
    if not session_ids:
        return facts, ContentIndex()
    ids = list(session_ids)
    in_sessions = col(Enrollment.session_id).in_(ids)
    learners = sa_select(col(Enrollment.session_id), func.count(distinct(col(Enrollment.learner_id))),
                         func.count(distinct(col(Learner.id)))).join(
        Learner, (col(Learner.id) == col(Enrollment.learner_id)) & col(Learner.at_risk)
        & col(Learner.erased_at).is_(None), isouter=True).where(in_sessions).group_by(
        col(Enrollment.session_id))
    for sid, count, risky in await fetch(db, learners):
        facts[sid].learners, facts[sid].at_risk = count, risky
    prompts = sa_select(col(Enrollment.session_id), col(Prompt.status), func.count()).join(
        Enrollment, col(Enrollment.id) == col(Prompt.enrollment_id)).where(
        in_sessions, col(Prompt.status) != PromptStatus.SUPERSEDED).group_by(
        col(Enrollment.session_id), col(Prompt.status))
    for sid, status, count in await fetch(db, prompts):
        facts[sid].prompts += count
        if status == PromptStatus.ANSWERED:
            facts[sid].answered += count
    alerts = sa_select(col(Alert.session_id), func.count()).where(
        col(Alert.session_id).in_(ids), col(Alert.acknowledged_at).is_(None),
        col(Alert.kind) != "task").group_by(col(Alert.session_id))
    for sid, count in await fetch(db, alerts):
        facts[sid].open_alerts = count
    tickets = sa_select(col(Ticket.session_id), func.count()).where(
        col(Ticket.session_id).in_(ids), col(Ticket.status) == TicketStatus.OPEN,
        col(Ticket.first_response_at).is_(None), col(Ticket.due_by) < now).group_by(col(Ticket.session_id))
    for sid, count in await fetch(db, tickets):
        facts[sid].overdue_tickets = count
    if grouped:
        await _grouped_answers(db, facts, ids)
    else:
        replies = sa_select(col(Enrollment.session_id), col(Reply.learner_id), col(Reply.kind), col(Reply.value),
                            col(Reply.correct), col(Reply.created_at)).join(
            Enrollment, col(Enrollment.id) == col(Reply.enrollment_id)).where(
            in_sessions, col(Reply.kind).in_(ANSWER_KINDS)).order_by(col(Reply.created_at), col(Reply.id))
        for sid, learner_id, kind, value, correct, at in await fetch(db, replies):
            question, answer = answer_of(value)
            facts[sid].answers.append(Answer(sid, learner_id, kind, question, answer, correct, at))
    versions = sa_select(col(Enrollment.campaign_version_id)).where(in_sessions).distinct()
    index = await load_index(db, [v for (v,) in await fetch(db, versions)])
    return facts, index


async def _grouped_answers(db: AsyncSession, facts: dict[int, SessionFacts], ids: list[int]) -> None:
    """Identical answers counted by the database, per session and (UTC) month."""
    created = col(Reply.created_at)
    if db.get_bind().dialect.name == "postgresql":
        month: Any = func.to_char(created, "YYYY-MM")
    else:
        month = func.substr(created, 1, 7)
    statement = sa_select(col(Enrollment.session_id), col(Reply.kind), col(Reply.value), col(Reply.correct), month,
                          func.count()).join(Enrollment, col(Enrollment.id) == col(Reply.enrollment_id)).where(
        col(Enrollment.session_id).in_(ids), col(Reply.kind).in_(ANSWER_KINDS),
        col(Reply.kind) != "checkin").group_by(
        col(Enrollment.session_id), col(Reply.kind), col(Reply.value), col(Reply.correct), month)
    for sid, kind, value, correct, yyyy_mm, count in await fetch(db, statement):
        question, answer = answer_of(value)
        year, mon = (int(part) for part in str(yyyy_mm).split("-")[:2])
        # Mid-month, so that the viewer's time zone never moves it to the next or previous month.
        at = datetime(year, mon, 15, 12, tzinfo=UTC)
        facts[sid].answers.append(Answer(sid, 0, kind, question, answer, correct, at, count))


def ratings(answers: Sequence[Answer], index: ContentIndex, *, criterion: str | None = None,
            survey_prefix: str = "") -> list[int]:
    """1–5 scores of CPF criteria (one criterion, or all) from satisfaction surveys."""
    values: list[int] = []
    for answer in answers:
        info = index.question(answer.question)
        if info is None or info.type != "rating" or not isinstance(answer.value, int):
            continue
        if info.criterion is None or (criterion is not None and info.criterion != criterion):
            continue
        if survey_prefix and not answer.question.startswith(survey_prefix):
            continue
        values.extend([answer.value] * answer.count)
    return values


def typed_values(answers: Sequence[Answer], index: ContentIndex, question_type: str,
                 *, survey_prefix: str = "") -> list[Any]:
    out = []
    for answer in answers:
        info = index.question(answer.question)
        if info is not None and info.type == question_type and answer.value is not None and (
                not survey_prefix or answer.question.startswith(survey_prefix)):
            out.extend([answer.value] * answer.count)
    return out


def first_quiz_answers(answers: Sequence[Answer]) -> list[bool]:
    """Whether each learner's first answer to each quiz item (in a quiz step, not a review) was right."""
    seen: set[tuple[int, str]] = set()
    out: list[bool] = []
    for answer in answers:
        if answer.kind != "quiz" or answer.correct is None:
            continue
        if answer.learner_id:
            key = (answer.learner_id, answer.question)
            if key in seen:
                continue
            seen.add(key)
        out.extend([answer.correct] * answer.count)
    return out
