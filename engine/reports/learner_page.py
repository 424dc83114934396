"""One learner: the whole thread (every delivery and every reply), progress, review cards,
alerts, tickets and notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.reports import figures
from engine.reports.content import answer_of, load_index
from engine.reports.facts import fetch
from engine.reports.scope import Viewer, sessions_filter, visible_learner
from engine.store.models import (
    Alert,
    Delivery,
    Enrollment,
    LearnerNote,
    Reply,
    ReviewCard,
    Ticket,
    Trainer,
    TrainingSession,
)


class ThreadItem(BaseModel):
    at: datetime
    direction: str  # out | in
    step: str
    kind: str
    channel: str | None
    state: str | None
    reason: str | None
    text: str
    correct: bool | None = None


class EnrollmentRow(BaseModel):
    id: int
    session_id: int | None
    session_title: str | None
    campaign: str
    status: str
    stopped_reason: str | None
    sent: int
    planned: int
    next_at: datetime | None


class CardRow(BaseModel):
    item: str
    due_at: datetime
    retired: bool


class NoteRow(BaseModel):
    author: str | None
    at: datetime
    body: str


class LearnerView(BaseModel):
    id: int
    name: str
    phone: str | None
    email: str | None
    timezone: str
    at_risk: bool
    at_risk_reason: str | None
    opted_out: list[str]
    enrollments: list[EnrollmentRow]
    quiz: figures.Rate
    thread: list[ThreadItem]
    cards: list[CardRow]
    alerts: list[Alert]
    tickets: list[Ticket]
    notes: list[NoteRow]


async def learner_page(db: AsyncSession, viewer: Viewer, learner_id: int) -> LearnerView:
    learner = await visible_learner(db, viewer, learner_id)
    enrol_rows = await fetch(db, sa_select(Enrollment, col(TrainingSession.title)).join(
        TrainingSession, col(TrainingSession.id) == col(Enrollment.session_id), isouter=True).where(
        col(Enrollment.learner_id) == learner_id, sessions_filter(viewer, Enrollment.session_id)).order_by(
        col(Enrollment.created_at)))
    enrollment_ids = [e.id for e, _ in enrol_rows]
    index = await load_index(db, [e.campaign_version_id for e, _ in enrol_rows])
    deliveries = [d for (d,) in await fetch(db, sa_select(Delivery).where(
        col(Delivery.enrollment_id).in_(enrollment_ids)).order_by(col(Delivery.due_at), col(Delivery.id)))]
    replies = [r for (r,) in await fetch(db, sa_select(Reply).where(
        col(Reply.learner_id) == learner_id, (col(Reply.enrollment_id).in_(enrollment_ids))
        | col(Reply.enrollment_id).is_(None)).order_by(col(Reply.created_at)))]
    thread = [_out(d, index.step_titles) for d in deliveries] + [_in(r) for r in replies]
    thread.sort(key=lambda item: item.at)
    banks = sorted({ref.split("#", 1)[0] for ref in index.items})
    cards = [c for (c,) in await fetch(db, sa_select(ReviewCard).where(
        col(ReviewCard.learner_id) == learner_id, col(ReviewCard.bank_ref).in_(banks)).order_by(
        col(ReviewCard.due_at)))]
    alerts = [a for (a,) in await fetch(db, sa_select(Alert).where(
        col(Alert.learner_id) == learner_id, sessions_filter(viewer, Alert.session_id)
        | col(Alert.session_id).is_(None)).order_by(col(Alert.created_at).desc()))]
    tickets = [t for (t,) in await fetch(db, sa_select(Ticket).where(
        col(Ticket.learner_id) == learner_id, sessions_filter(viewer, Ticket.session_id)
        | col(Ticket.session_id).is_(None)).order_by(col(Ticket.created_at).desc()))]
    notes = [NoteRow(author=name, at=n.created_at, body=n.body) for n, name in await fetch(
        db, sa_select(LearnerNote, col(Trainer.name)).join(
            Trainer, col(Trainer.id) == col(LearnerNote.author_id), isouter=True).where(
            col(LearnerNote.learner_id) == learner_id).order_by(col(LearnerNote.created_at).desc()))]
    by_enrollment: dict[int | None, list[Delivery]] = {}
    for d in deliveries:
        by_enrollment.setdefault(d.enrollment_id, []).append(d)
    enrollments = []
    for e, title in enrol_rows:
        mine = by_enrollment.get(e.id, [])
        upcoming = [d.due_at for d in mine if d.status == "planned"]
        enrollments.append(EnrollmentRow(
            id=e.id or 0, session_id=e.session_id, session_title=title, campaign=e.campaign_name, status=e.status,
            stopped_reason=e.stopped_reason, sent=sum(1 for d in mine if d.sent_at is not None),
            planned=len(mine), next_at=min(upcoming) if upcoming else None))
    opted = [c for c in ("sms", "whatsapp", "push", "email") if getattr(learner, f"opted_out_{c}_at")]
    return LearnerView(
        id=learner_id, name=f"{learner.first_name} {learner.last_name}".strip(), phone=learner.phone,
        email=learner.email, timezone=learner.timezone, at_risk=learner.at_risk,
        at_risk_reason=learner.at_risk_reason, opted_out=opted, enrollments=enrollments,
        quiz=figures.accuracy(bool(r.correct) for r in replies if r.correct is not None), thread=thread,
        cards=[CardRow(item=_item_text(c, index), due_at=c.due_at, retired=c.retired) for c in cards],
        alerts=alerts, tickets=tickets, notes=notes)


def _item_text(card: ReviewCard, index: Any) -> str:
    item = index.items.get(f"{card.bank_ref}#{card.item_id}")
    return item.question if item is not None else card.item_id


def _out(d: Delivery, titles: dict[str, str]) -> ThreadItem:
    body = ""
    if d.rendered:
        body = str(d.rendered.get("body") or d.rendered.get("text") or d.rendered.get("subject") or "")
    if not body and d.content_ref and " " in d.content_ref:
        body = d.content_ref  # an inline message or task text (a content reference is not shown)
    return ThreadItem(at=d.sent_at or d.due_at, direction="out", step=titles.get(d.step_id, d.step_id),
                      kind=d.kind, channel=d.channel, state=d.status, reason=d.status_reason or d.error_code,
                      text=body)


def _in(r: Reply) -> ThreadItem:
    _, value = answer_of(r.value)
    return ThreadItem(at=r.created_at, direction="in", step="", kind=r.kind, channel=None, state=None,
                      reason=None, text=r.raw_text or ("" if value is None else str(value)), correct=r.correct)
