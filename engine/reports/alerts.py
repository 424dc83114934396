"""The alerts feed (to acknowledge), the learners at risk, and the trainers' tasks."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.reports.facts import fetch
from engine.reports.scope import Viewer, alerts_filter, learners_filter, sessions_filter
from engine.store.models import Alert, Enrollment, Learner, Reply, TrainingSession

PAGE_SIZE = 30
TASK = "task"
#: Alert kinds that make a learner "at risk", with what a trainer would do about it.
RISK_KINDS = ("branch", "quiz_failure", "low_rating", "detractor", "complaint", "silence", "blocked_plan")


class AlertRow(BaseModel):
    id: int
    kind: str
    reason: str
    learner_id: int
    learner: str
    session_id: int | None
    session_title: str | None
    created_at: datetime
    acknowledged_at: datetime | None
    done_at: datetime | None


class AlertsView(BaseModel):
    alerts: list[AlertRow]
    show: str
    page: int
    pages: int
    total: int


class AtRiskRow(BaseModel):
    learner_id: int
    learner: str
    reason_kind: str
    reason: str
    session_id: int | None
    session_title: str | None
    last_contact: datetime | None
    marked: bool


def _alerts_statement(viewer: Viewer) -> object:
    return sa_select(Alert, col(Learner.first_name), col(Learner.last_name), col(TrainingSession.title)).join(
        Learner, col(Learner.id) == col(Alert.learner_id)).join(
        TrainingSession, col(TrainingSession.id) == col(Alert.session_id), isouter=True).where(
        alerts_filter(viewer), col(Learner.erased_at).is_(None))


def _alert_row(row: tuple[Alert, str, str, str | None]) -> AlertRow:
    alert, first, last, title = row
    return AlertRow(id=alert.id or 0, kind=alert.kind, reason=alert.reason, learner_id=alert.learner_id,
                    learner=f"{first} {last}".strip(), session_id=alert.session_id, session_title=title,
                    created_at=alert.created_at, acknowledged_at=alert.acknowledged_at, done_at=alert.done_at)


async def _paged(db: AsyncSession, statement: object, page: int, *, newest_first: bool = True
                 ) -> tuple[list[AlertRow], int, int, int]:
    order = col(Alert.created_at).desc() if newest_first else col(Alert.created_at)
    rows = [_alert_row(r) for r in await fetch(db, statement.order_by(order, col(Alert.id)))]  # type: ignore[attr-defined]
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(1, page), pages)
    return rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], page, pages, len(rows)


async def alerts_feed(db: AsyncSession, viewer: Viewer, *, show: str = "open", page: int = 1) -> AlertsView:
    statement = _alerts_statement(viewer).where(col(Alert.kind) != TASK)  # type: ignore[attr-defined]
    if show != "all":
        show = "open"
        statement = statement.where(col(Alert.acknowledged_at).is_(None))
    rows, page, pages, total = await _paged(db, statement, page)
    return AlertsView(alerts=rows, show=show, page=page, pages=pages, total=total)


async def tasks(db: AsyncSession, viewer: Viewer, *, show: str = "open", page: int = 1) -> AlertsView:
    """Tasks from campaigns ("appeler Camille"), due when created, oldest first."""
    statement = _alerts_statement(viewer).where(col(Alert.kind) == TASK)  # type: ignore[attr-defined]
    if show != "all":
        show = "open"
        statement = statement.where(col(Alert.done_at).is_(None))
    rows, page, pages, total = await _paged(db, statement, page, newest_first=False)
    return AlertsView(alerts=rows, show=show, page=page, pages=pages, total=total)


class AtRiskView(BaseModel):
    rows: list[AtRiskRow]
    page: int
    pages: int
    total: int


async def at_risk_page(db: AsyncSession, viewer: Viewer, *, page: int = 1) -> AtRiskView:
    rows = await at_risk(db, viewer)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(1, page), pages)
    return AtRiskView(rows=rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], page=page, pages=pages, total=len(rows))


async def at_risk(db: AsyncSession, viewer: Viewer) -> list[AtRiskRow]:
    """Learners marked at risk or with an open risk alert, with the latest reason and last contact."""
    alerts = await fetch(db, _alerts_statement(viewer).where(  # type: ignore[attr-defined]
        col(Alert.kind).in_(RISK_KINDS), col(Alert.acknowledged_at).is_(None)).order_by(col(Alert.created_at)))
    marked = [row for (row,) in await fetch(db, sa_select(Learner).where(
        col(Learner.at_risk), col(Learner.erased_at).is_(None), learners_filter(viewer, Learner.id)))]
    rows: dict[int, AtRiskRow] = {}
    for alert, first, last, title in alerts:
        rows[alert.learner_id] = AtRiskRow(
            learner_id=alert.learner_id, learner=f"{first} {last}".strip(), reason_kind=alert.kind,
            reason=alert.reason, session_id=alert.session_id, session_title=title, last_contact=None,
            marked=False)
    for learner in marked:
        lid = learner.id or 0
        existing = rows.get(lid)
        if existing is not None:
            existing.marked = True
            if learner.at_risk_reason:
                existing.reason = learner.at_risk_reason
        else:
            rows[lid] = AtRiskRow(learner_id=lid, learner=f"{learner.first_name} {learner.last_name}".strip(),
                                  reason_kind="marked", reason=learner.at_risk_reason or "",
                                  session_id=None, session_title=None, last_contact=None, marked=True)
    if rows:
        contacts = await fetch(db, sa_select(col(Reply.learner_id), func.max(col(Reply.created_at))).where(
            col(Reply.learner_id).in_(list(rows))).group_by(col(Reply.learner_id)))
        for learner_id, at in contacts:
            rows[learner_id].last_contact = at
        unplaced = [lid for lid, row in rows.items() if row.session_id is None]
        if unplaced:
            sessions = await fetch(db, sa_select(col(Enrollment.learner_id), col(TrainingSession.id),
                                                 col(TrainingSession.title)).join(
                TrainingSession, col(TrainingSession.id) == col(Enrollment.session_id)).where(
                col(Enrollment.learner_id).in_(unplaced), sessions_filter(viewer, Enrollment.session_id)).order_by(
                col(Enrollment.created_at)))
            for learner_id, session_id, title in sessions:
                rows[learner_id].session_id, rows[learner_id].session_title = session_id, title
    return sorted(rows.values(), key=lambda r: (r.last_contact is not None, r.last_contact or datetime.min, r.learner))
