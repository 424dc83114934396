"""The database as the plain rows :mod:`engine.core.indicators` computes from.

A constant number of queries whatever the data (one per table read), so the pack for a
year of 10,000 learners costs what the pack for one session costs, in round trips.
What each survey question measures is read from the content pinned in each campaign
version (the questions as they were asked), not from today's files.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.indicators import (
    COLD,
    TESTIMONIAL,
    Attendee,
    EnrolmentRow,
    EvidenceRows,
    Period,
    PromptRow,
    QuizAnswer,
    ReviewRetention,
    Solicitation,
    SurveyAnswer,
    TicketRow,
    survey_kind_of,
)
from engine.core.signals import guess_category
from engine.core.spaced import ReviewState, retrievability
from engine.store.base import DeliveryOrigin, PromptStatus
from engine.store.models import (
    Attendance,
    CampaignVersion,
    Delivery,
    Enrollment,
    InboundEvent,
    Learner,
    Prompt,
    Reply,
    ReviewCard,
    Ticket,
    TrainingSession,
)


@dataclass(frozen=True)
class SessionInfo:
    id: int
    title: str
    trainer_id: int | None
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class LoadedEvidence:
    """The rows, and the names the registers print beside them."""

    rows: EvidenceRows
    period: Period
    sessions: dict[int, SessionInfo] = field(default_factory=dict)
    learners: dict[int, str] = field(default_factory=dict)
    #: survey ref → (title, kind, question texts) as pinned in the campaign versions used.
    surveys: dict[str, tuple[str, str, tuple[str, ...]]] = field(default_factory=dict)


# sqlmodel's ``select`` is typed for up to four columns; these reads take more.
select_columns: Callable[..., Any] = select


def survey_kind(ref: str, questions: list[dict[str, Any]]) -> str:
    """hot, cold, testimonial or other, from the survey's name and its questions."""
    return survey_kind_of(ref, has_criteria=any(q.get("criterion") for q in questions))


def question_topic(kind: str, question: dict[str, Any]) -> str | None:
    """What a question measures for the indicators (a CPF criterion, nps, application...)."""
    if question.get("criterion"):
        return str(question["criterion"])
    qid, qtype = str(question.get("id", "")), question.get("type")
    if qtype == "nps":
        return "nps"
    if kind == COLD and qid in ("applique", "application", "mise-en-pratique"):
        return "application"
    if kind == COLD and qid in ("resultats", "results", "impact"):
        return "results"
    if kind == TESTIMONIAL and qid.startswith("consent"):
        return "consent"
    if qtype == "text":
        return "verbatim"
    return None


def _window(period: Period) -> tuple[datetime, datetime]:
    """UTC bounds that surely contain the period's local days (the core filters exactly)."""
    low, high = period.bounds
    return low - timedelta(days=1), high + timedelta(days=1)


async def load_evidence(session: AsyncSession, *, period: Period, now: datetime,
                        session_id: int | None = None, session_ids: set[int] | None = None) -> LoadedEvidence:
    """Every row the indicators and registers need for ``period`` (optionally one session's)."""
    start, end = _window(period)
    scope = {session_id} if session_id is not None else session_ids

    def in_scope(sid: int | None) -> bool:
        return scope is None or sid in scope

    session_rows = (await session.exec(select_columns(
        TrainingSession.id, TrainingSession.title, TrainingSession.trainer_id, TrainingSession.starts_at,
        TrainingSession.ends_at))).all()
    sessions = {r[0]: SessionInfo(r[0], r[1], r[2], r[3], r[4]) for r in session_rows}
    title = {sid: s.title for sid, s in sessions.items()}

    learner_rows = (await session.exec(select_columns(
        Learner.id, Learner.first_name, Learner.last_name, Learner.company, Learner.opted_out_sms_at,
        Learner.opted_out_whatsapp_at, Learner.opted_out_push_at, Learner.opted_out_email_at))).all()
    names = {r[0]: f"{r[1]} {r[2]}".strip() for r in learner_rows if r[0] is not None}
    company = {r[0]: r[3] for r in learner_rows}
    opted_out = {r[0]: min((d for d in r[4:] if d is not None), default=None) for r in learner_rows}

    attendance = (await session.exec(select_columns(Attendance.learner_id, Attendance.session_id,
                                            Attendance.training_completion))).all()
    completion = {(r[0], r[1]): r[2] for r in attendance}
    attendees = tuple(Attendee(r[0], r[1], title[r[1]], company.get(r[0]), sessions[r[1]].starts_at,
                               sessions[r[1]].ends_at) for r in attendance if r[1] in sessions)

    last_plan = (select(Delivery.enrollment_id, func.max(Delivery.due_at).label("last"))
                 .where(col(Delivery.origin) == DeliveryOrigin.PLAN).group_by(col(Delivery.enrollment_id))
                 .subquery())
    enrol_rows = (await session.exec(select_columns(
        Enrollment.id, Enrollment.learner_id, Enrollment.session_id, Enrollment.status, Enrollment.anchor_at,
        Enrollment.updated_at, Enrollment.campaign_version_id, last_plan.c.last)
        .outerjoin(last_plan, last_plan.c.enrollment_id == col(Enrollment.id)))).all()
    enrolment_session = {r[0]: r[2] for r in enrol_rows}
    enrolment_version = {r[0]: r[6] for r in enrol_rows}
    enrolments = tuple(
        EnrolmentRow(r[1], r[2], title.get(r[2] or 0, ""), sessions[r[2]].ends_at if r[2] in sessions else r[4],
                     r[3], r[7], r[5] if r[3] == "stopped" else None, opted_out.get(r[1]),
                     completion.get((r[1], r[2] or 0)))
        for r in enrol_rows if in_scope(r[2]) and r[4] < end)

    questions = await _pinned_questions(session, set(enrolment_version.values()))

    reply_rows = (await session.exec(select_columns(
        Reply.learner_id, Reply.enrollment_id, Reply.kind, Reply.value, Reply.correct, Reply.created_at)
        .where(col(Reply.kind).in_(("survey", "quiz", "review")), col(Reply.created_at) >= start,
               col(Reply.created_at) < end))).all()
    answers: list[SurveyAnswer] = []
    quiz: list[QuizAnswer] = []
    first_answer: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for learner_id, enrollment_id, kind, value, correct, at in reply_rows:
        sid = enrolment_session.get(enrollment_id or 0)
        if not in_scope(sid):
            continue
        programme = title.get(sid or 0, "")
        if kind in ("quiz", "review"):
            if correct is not None:
                quiz.append(QuizAnswer(learner_id, sid, programme, at, bool(correct)))
            continue
        data = value if isinstance(value, dict) else {}
        ref, _, qid = str(data.get("question", "")).partition("#")
        meta = questions.get(enrolment_version.get(enrollment_id or 0, 0), {}).get(ref, {})
        skind, question = meta.get("", {}).get("kind") or survey_kind(ref, []), meta.get(qid, {})
        if data.get("status") not in ("ok", "answered", "skipped", None) and data.get("value") is None:
            continue
        first_answer[(enrollment_id or 0, ref)].append(at)
        answers.append(SurveyAnswer(learner_id, sid, programme, ref, skind, qid, str(question.get("type", "")),
                                    question_topic(skind, question), data.get("value"), at))

    solicitations = await _solicitations(session, start, end, enrolment_session, enrolment_version, questions,
                                         title, first_answer, in_scope)
    tickets = await _tickets(session, start, end, title, in_scope)
    prompt_rows = (await session.exec(select_columns(Prompt.learner_id, Prompt.enrollment_id, Prompt.opened_at,
                                                     Prompt.status).where(
        col(Prompt.status) != PromptStatus.SUPERSEDED, col(Prompt.opened_at) >= start,
        col(Prompt.opened_at) < end))).all()
    prompts = tuple(PromptRow(learner_id, sid, title.get(sid or 0, ""), opened_at, status == PromptStatus.ANSWERED)
                    for learner_id, enrollment_id, opened_at, status in prompt_rows
                    if (sid := enrolment_session.get(enrollment_id)) is not None and in_scope(sid))
    retention = await _retention(session, attendees, now, in_scope)
    # The scope's learners are the population of per-learner rates (complaints per 100 learners of
    # *this* session); every attendance stays in ``history`` for re-enrolment.
    rows = EvidenceRows(answers=tuple(answers), solicitations=solicitations, tickets=tickets,
                        enrolments=enrolments, attendees=tuple(a for a in attendees if in_scope(a.session_id)),
                        quiz_answers=tuple(quiz), retention=retention, history=attendees,
                        prompts=prompts)
    asked = {ref: (str(meta[""]["title"]), str(meta[""]["kind"]), tuple(meta[""]["texts"]))
             for per_ref in questions.values() for ref, meta in per_ref.items()}
    return LoadedEvidence(rows, period, sessions, names, asked)


async def _pinned_questions(session: AsyncSession, version_ids: set[int]
                            ) -> dict[int, dict[str, dict[str, dict[str, Any]]]]:
    """version → survey ref → question id → question (and "" → {"kind": ...})."""
    if not version_ids:
        return {}
    out: dict[int, dict[str, dict[str, dict[str, Any]]]] = {}
    for version_id, definition in (await session.exec(select(CampaignVersion.id, CampaignVersion.definition)
                                                      .where(col(CampaignVersion.id).in_(version_ids)))).all():
        surveys = ((definition or {}).get("content") or {}).get("surveys") or {}
        per_ref: dict[str, dict[str, dict[str, Any]]] = {}
        for ref, survey in surveys.items():
            qs = list(survey.get("questions") or [])
            per_ref[ref] = {str(q.get("id")): q for q in qs}
            per_ref[ref][""] = {"kind": survey_kind(ref, qs), "title": survey.get("title", ref),
                                "texts": tuple(str(q.get("text", "")) for q in qs)}
        out[version_id or 0] = per_ref
    return out


async def _solicitations(session: AsyncSession, start: datetime, end: datetime, enrolment_session: dict[int, int | None],
                         enrolment_version: dict[int, int], questions: dict[int, dict[str, dict[str, dict[str, Any]]]],
                         title: dict[int, str], first_answer: dict[tuple[int, str], list[datetime]],
                         in_scope: Any) -> tuple[Solicitation, ...]:
    """One row per survey sent (its first question, not the follow-up ones), with its reminders."""
    prompt_rows = (await session.exec(select_columns(
        Prompt.learner_id, Prompt.enrollment_id, Prompt.step_id, Prompt.question_ref, Prompt.opened_at)
        .join(Delivery, col(Delivery.id) == col(Prompt.delivery_id))
        .where(col(Prompt.kind) == "survey", col(Delivery.origin) != DeliveryOrigin.FEEDBACK,
               col(Prompt.opened_at) >= start, col(Prompt.opened_at) < end))).all()
    reminder_rows = (await session.exec(select_columns(
        Delivery.enrollment_id, Delivery.step_id, Delivery.sent_at, Delivery.due_at)
        .where(col(Delivery.origin) == DeliveryOrigin.REMINDER, col(Delivery.due_at) >= start))).all()
    reminders: dict[tuple[int, str], list[datetime]] = defaultdict(list)
    for enrollment_id, step_id, sent_at, due_at in reminder_rows:
        reminders[(enrollment_id, step_id)].append(sent_at or due_at)
    out: list[Solicitation] = []
    for learner_id, enrollment_id, step_id, question_ref, opened_at in prompt_rows:
        sid = enrolment_session.get(enrollment_id)
        if not in_scope(sid):
            continue
        ref = question_ref.partition("#")[0]
        meta = questions.get(enrolment_version.get(enrollment_id, 0), {}).get(ref, {})
        kind = meta.get("", {}).get("kind") or survey_kind(ref, [])
        answered = min((a for a in first_answer.get((enrollment_id, ref), []) if a >= opened_at), default=None)
        out.append(Solicitation(learner_id, sid, title.get(sid or 0, ""), ref, kind, step_id, opened_at,
                                tuple(sorted(r for r in reminders.get((enrollment_id, step_id), []) if r >= opened_at)),
                                answered))
    return tuple(out)


async def load_tickets(session: AsyncSession, *, period: Period, session_ids: set[int] | None = None
                       ) -> tuple[TicketRow, ...]:
    """The period's tickets alone (the complaints register page): two queries."""
    start, end = _window(period)
    titles = dict((await session.exec(select(TrainingSession.id, TrainingSession.title))).all())
    rows = await _tickets(session, start, end, {k or 0: v for k, v in titles.items()},
                          lambda sid: session_ids is None or sid in session_ids)
    return tuple(t for t in rows if period.contains(t.received_at))


async def _tickets(session: AsyncSession, start: datetime, end: datetime, title: dict[int, str],
                   in_scope: Any) -> tuple[TicketRow, ...]:
    category_column = getattr(Ticket, "category", None)  # the inbox's editable category, when present
    columns: list[Any] = [Ticket.id, Ticket.learner_id, Ticket.session_id, Ticket.created_at,
                          Ticket.first_response_at, Ticket.body, Ticket.acknowledged_at, Ticket.resolved_at,
                          Ticket.closed_at, Ticket.corrective_action_id, InboundEvent.channel]
    if category_column is not None:
        columns.append(category_column)
    rows = (await session.exec(select_columns(*columns)
                               .outerjoin(InboundEvent, col(InboundEvent.id) == col(Ticket.inbound_event_id))
                               .where(col(Ticket.created_at) >= start, col(Ticket.created_at) < end))).all()
    out: list[TicketRow] = []
    for row in rows:
        sid = row[2]
        if not in_scope(sid):
            continue
        category = row[11] if category_column is not None and row[11] else guess_category(row[5])
        out.append(TicketRow(row[0], row[1], sid, title.get(sid or 0, ""), row[3], row[4], str(category),
                             row[10] or "sms", row[6], row[7] or row[8], row[9], row[5]))
    return tuple(out)


async def _retention(session: AsyncSession, attendees: tuple[Attendee, ...], now: datetime,
                     in_scope: Any) -> tuple[ReviewRetention, ...]:
    """Each review card's recall probability now, credited to the learner's latest session."""
    latest: dict[int, Attendee] = {}
    for a in attendees:
        if in_scope(a.session_id) and (a.learner_id not in latest or a.session_end > latest[a.learner_id].session_end):
            latest[a.learner_id] = a
    if not latest:
        return ()
    out: list[ReviewRetention] = []
    for learner_id, state in (await session.exec(select(ReviewCard.learner_id, ReviewCard.state))).all():
        attendee = latest.get(learner_id)
        if attendee is None or not state:
            continue
        try:
            value = retrievability(ReviewState.from_dict(state), now=now)
        except (KeyError, ValueError, TypeError):
            continue
        out.append(ReviewRetention(learner_id, attendee.programme, attendee.session_end, value))
    return tuple(out)


def month_period(day: date, timezone: str = "Europe/Paris") -> Period:
    """The calendar month containing ``day``."""
    first = day.replace(day=1)
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Period(first, nxt - timedelta(days=1), timezone)
