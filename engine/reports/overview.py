"""The overview: the viewer's sessions in a period with their key figures, and a monthly trend."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.reports import figures
from engine.reports.content import ContentIndex
from engine.reports.facts import (
    Answer,
    SessionFacts,
    first_quiz_answers,
    ratings,
    session_facts,
)
from engine.reports.scope import Viewer, sessions_filter
from engine.store.models import Trainer, TrainingSession

PAGE_SIZE = 20
PERIODS = {"3m": 92, "6m": 183, "12m": 366, "all": None}


class Period(BaseModel):
    key: str
    start: date | None
    end: date


class SessionRow(BaseModel):
    id: int
    title: str
    trainer: str | None
    ends_at: datetime
    learners: int
    response: figures.Rate
    satisfied: figures.Rate
    nps: figures.Nps
    quiz: figures.Rate
    open_alerts: int
    overdue_tickets: int
    at_risk: int


class TrendPoint(BaseModel):
    month: date
    satisfied: figures.Rate
    nps: figures.Nps


class OverviewView(BaseModel):
    period: Period
    sessions: list[SessionRow]
    page: int
    pages: int
    total_sessions: int
    query: str
    totals: SessionRow | None
    trend: list[TrendPoint]


def parse_period(key: str | None, *, today: date) -> Period:
    """A preset (3m, 6m, 12m, all) ending today; unknown keys fall back to 12 months."""
    chosen = key if key in PERIODS else "12m"
    days = PERIODS[chosen]
    return Period(key=chosen, start=today - timedelta(days=days) if days else None, end=today)


def session_row(training: TrainingSession, facts: SessionFacts, index: ContentIndex,
                trainer: str | None) -> SessionRow:
    answers = facts.answers
    return SessionRow(
        id=training.id or 0, title=training.title, trainer=trainer, ends_at=training.ends_at,
        learners=facts.learners, response=figures.rate(facts.answered, facts.prompts),
        satisfied=figures.satisfied_share(ratings(answers, index)),
        nps=figures.nps(figures.hot_nps_scores(answers, index)),
        quiz=figures.accuracy(first_quiz_answers(answers)), open_alerts=facts.open_alerts,
        overdue_tickets=facts.overdue_tickets, at_risk=facts.at_risk)


async def overview(db: AsyncSession, viewer: Viewer, *, now: datetime, period: str | None = None,
                   page: int = 1, query: str = "") -> OverviewView:
    zone = ZoneInfo(viewer.timezone)
    chosen = parse_period(period, today=now.astimezone(zone).date())
    statement = select(TrainingSession, Trainer.name).join(
        Trainer, col(Trainer.id) == col(TrainingSession.trainer_id), isouter=True).where(
        sessions_filter(viewer, TrainingSession.id), col(TrainingSession.starts_at) <= now)
    if chosen.start is not None:
        statement = statement.where(
            col(TrainingSession.ends_at) >= datetime.combine(chosen.start, time(), zone))
    if query:
        statement = statement.where(func.lower(col(TrainingSession.title)).contains(query.lower()))
    rows = (await db.exec(statement.order_by(col(TrainingSession.ends_at).desc(),
                                             col(TrainingSession.id).desc()))).all()
    facts, index = await session_facts(db, [s.id or 0 for s, _ in rows], now=now, grouped=True)
    all_rows = [session_row(s, facts[s.id or 0], index, name) for s, name in rows]
    pages = max(1, -(-len(all_rows) // PAGE_SIZE))
    page = min(max(1, page), pages)
    everything = SessionFacts()
    for f in facts.values():
        everything.learners += f.learners
        everything.prompts += f.prompts
        everything.answered += f.answered
        everything.open_alerts += f.open_alerts
        everything.overdue_tickets += f.overdue_tickets
        everything.at_risk += f.at_risk
        everything.answers.extend(f.answers)
    totals = None
    if rows:
        totals = session_row(TrainingSession(id=0, title="Total", starts_at=now, ends_at=now), everything,
                             index, None)
    return OverviewView(period=chosen, sessions=all_rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE],
                        page=page, pages=pages, total_sessions=len(all_rows), query=query, totals=totals,
                        trend=_trend(everything.answers, index, zone))


def _trend(answers: list[Answer], index: ContentIndex, zone: ZoneInfo) -> list[TrendPoint]:
    by_month: dict[date, list[Answer]] = defaultdict(list)
    for answer in answers:
        local = answer.at.astimezone(zone)
        by_month[date(local.year, local.month, 1)].append(answer)
    return [TrendPoint(month=month, satisfied=figures.satisfied_share(ratings(items, index)),
                       nps=figures.nps(figures.hot_nps_scores(items, index)))
            for month, items in sorted(by_month.items())][-12:]
