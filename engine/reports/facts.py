"""Per-session aggregates shared by the overview, the session page and the exports.

Each function is one query over any number of sessions (grouped by session),
so a page's query count does not grow with its sessions or learners.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, distinct, func
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.reports import figures
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


@dataclass
class AnswerTotals:
    """What the overview shows of the answers of a session in one month, counted by the database."""

    ratings: int = 0
    satisfied: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    quiz: int = 0
    quiz_right: int = 0

    def add(self, other: AnswerTotals) -> None:
        for name in _TOTALS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def satisfied_share(self) -> figures.Rate:
        return figures.rate(self.satisfied, self.ratings)

    @property
    def nps(self) -> figures.Nps:
        return figures.Nps(promoters=self.promoters, passives=self.passives, detractors=self.detractors)

    @property
    def accuracy(self) -> figures.Rate:
        return figures.rate(self.quiz_right, self.quiz)


_TOTALS = ("ratings", "satisfied", "promoters", "passives", "detractors", "quiz", "quiz_right")


@dataclass
class SessionFacts:
    learners: int = 0
    prompts: int = 0
    answered: int = 0
    open_alerts: int = 0
    overdue_tickets: int = 0
    at_risk: int = 0
    answers: list[Answer] = field(default_factory=list)
    #: Only with ``grouped``: by the first day of each UTC month.
    months: dict[date, AnswerTotals] = field(default_factory=dict)

    @property
    def totals(self) -> AnswerTotals:
        out = AnswerTotals()
        for month in self.months.values():
            out.add(month)
        return out


async def session_facts(db: AsyncSession, session_ids: Sequence[int], *, now: datetime, grouped: bool = False
                        ) -> tuple[dict[int, SessionFacts], ContentIndex]:
    """Counts and answers of each session, plus the content needed to read the answers.

    ``grouped`` (the overview, over many sessions) fills :attr:`SessionFacts.months` (figures summed
    by the database per session and month) instead of :attr:`SessionFacts.answers` (one row per
    reply); figures are the same except that a learner answering the same quiz item twice in a quiz
    step counts twice.
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
    versions = sa_select(col(Enrollment.campaign_version_id)).where(in_sessions).distinct()
    index = await load_index(db, [v for (v,) in await fetch(db, versions)])
    if grouped:
        await _answer_totals(db, facts, ids, index)
    else:
        replies = sa_select(col(Enrollment.session_id), col(Reply.learner_id), col(Reply.kind), col(Reply.value),
                            col(Reply.correct), col(Reply.created_at)).join(
            Enrollment, col(Enrollment.id) == col(Reply.enrollment_id)).where(
            in_sessions, col(Reply.kind).in_(ANSWER_KINDS)).order_by(col(Reply.created_at), col(Reply.id))
        for sid, learner_id, kind, value, correct, at in await fetch(db, replies):
            question, answer = answer_of(value)
            facts[sid].answers.append(Answer(sid, learner_id, kind, question, answer, correct, at))
    return facts, index


async def _answer_totals(db: AsyncSession, facts: dict[int, SessionFacts], ids: list[int],
                         index: ContentIndex) -> None:
    """The overview's answer figures per session and (UTC) month, summed by the database.

    Which stored question refs are CPF ratings or NPS comes from the content index, so the
    database returns one row per session and month, whatever the number of replies. Ratings and
    NPS are survey questions (only survey replies are opened); quiz accuracy reads no JSON.
    """
    question = col(Reply.value)["question"].as_string()
    answer = col(Reply.value)["value"]
    if db.get_bind().dialect.name == "postgresql":
        month: Any = func.date_trunc("month", func.timezone("UTC", col(Reply.created_at)))
        # A JSON integer, as ``isinstance(value, int)`` reads it back (5, not 5.0 nor "5").
        integer = (func.jsonb_typeof(answer) == "number") & answer.as_string().regexp_match("^-?[0-9]+$")
    else:
        month = func.substr(col(Reply.created_at), 1, 7)
        integer = func.json_type(col(Reply.value), "$.value") == "integer"
    score = answer.as_float()
    survey = col(Reply.kind) == "survey"
    rating = question.in_([ref for ref, info in index.questions.items() if info.type == "rating" and info.criterion])
    nps = question.in_([ref for ref, info in index.questions.items() if info.type == "nps"])
    quiz = (col(Reply.kind) == "quiz") & col(Reply.correct).is_not(None)
    flags = [_flag(survey, rating, integer), _flag(survey, rating, integer, score >= figures.SATISFIED_FROM),
             _flag(survey, nps, integer, score >= figures.PROMOTER_FROM),
             _flag(survey, nps, integer, score > figures.DETRACTOR_UP_TO, score < figures.PROMOTER_FROM),
             _flag(survey, nps, integer, score <= figures.DETRACTOR_UP_TO), _flag(quiz), _flag(quiz, col(Reply.correct))]
    # The flags are computed below the grouping (OFFSET 0 keeps the planner from merging the two), so
    # the database sorts or hashes small integers per reply rather than each reply's JSON.
    rows = sa_select(col(Enrollment.session_id).label("session_id"), month.label("month"),
                     *(flag.label(f"f{number}") for number, flag in enumerate(flags))).join(
        Enrollment, col(Enrollment.id) == col(Reply.enrollment_id)).where(
        col(Enrollment.session_id).in_(ids), col(Reply.kind).in_(ANSWER_KINDS),
        col(Reply.kind) != "checkin").offset(0).subquery()
    statement = sa_select(rows.c.session_id, rows.c.month, *(
        func.sum(rows.c[f"f{number}"]) for number in range(len(flags)))).group_by(rows.c.session_id, rows.c.month)
    for sid, start, *counts in await fetch(db, statement):
        if isinstance(start, datetime):
            key = date(start.year, start.month, 1)
        else:
            year, mon = (int(part) for part in str(start).split("-")[:2])
            key = date(year, mon, 1)
        facts[sid].months[key] = AnswerTotals(*(int(c) for c in counts))


def _flag(*conditions: Any) -> Any:
    """1 where every condition holds, each evaluated only where the previous ones hold, else 0.

    Nested CASE rather than AND, whose operands SQL may evaluate in any order: the JSON of
    non-survey replies is never opened, and a number cast only ever sees integers.
    """
    flag: Any = 1
    for condition in reversed(conditions):
        flag = case((condition, flag), else_=0)
    return flag


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
        values.append(answer.value)
    return values


def ratings_by_criterion(answers: Sequence[Answer], index: ContentIndex) -> dict[str, list[int]]:
    """:func:`ratings` of every CPF criterion at once (one pass over the answers)."""
    out: dict[str, list[int]] = defaultdict(list)
    for answer in answers:
        info = index.question(answer.question)
        if info is not None and info.type == "rating" and info.criterion is not None and isinstance(answer.value, int):
            out[info.criterion].append(answer.value)
    return out


def typed_values(answers: Sequence[Answer], index: ContentIndex, question_type: str,
                 *, survey_prefix: str = "") -> list[Any]:
    out = []
    for answer in answers:
        info = index.question(answer.question)
        if info is not None and info.type == question_type and answer.value is not None and (
                not survey_prefix or answer.question.startswith(survey_prefix)):
            out.append(answer.value)
    return out


def first_quiz_answers(answers: Sequence[Answer]) -> list[bool]:
    """Whether each learner's first answer to each quiz item (in a quiz step, not a review) was right."""
    seen: set[tuple[int, str]] = set()
    out: list[bool] = []
    for answer in answers:
        if answer.kind != "quiz" or answer.correct is None:
            continue
        key = (answer.learner_id, answer.question)
        if key in seen:
            continue
        seen.add(key)
        out.append(answer.correct)
    return out
