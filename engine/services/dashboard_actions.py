"""What trainers do from the dashboard: triage tickets, acknowledge alerts, tick tasks, keep notes,
mark learners at risk, act on enrolments and send one-off messages.

Every function takes a row the caller has already checked the viewer may see
(:mod:`engine.reports.scope`), records an audit event, and leaves the commit to
the caller. Messages are ``Delivery`` rows due now on the campaign's channels
(in order, the next one a fallback): the normal send path applies windows,
opt-outs and channel choice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services import enrolment
from engine.store.audit import record_audit
from engine.store.base import DeliveryOrigin, EnrollmentStatus, TicketCategory, TicketStatus
from engine.store.models import (
    Alert,
    CampaignVersion,
    Delivery,
    Enrollment,
    Learner,
    LearnerNote,
    Ticket,
    TicketMessage,
    TrainingSession,
)

MESSAGE_STEP = "dashboard-message"
#: A second identical answer within this delay is a double submit (back button, double click), not a new one.
RESUBMIT_WINDOW = timedelta(minutes=10)
MAX_MESSAGE = 1600


async def set_ticket_triage(db: AsyncSession, *, ticket: Ticket, category: str | None, assignee_id: int | None,
                            by: int, now: datetime) -> None:
    if category is not None:
        ticket.category = TicketCategory(category)
    ticket.assignee_id = assignee_id
    db.add(ticket)
    await record_audit(db, entity="ticket", entity_id=ticket.id or 0, action="triage", at=now,
                       detail={"category": ticket.category, "assignee": assignee_id, "by": by})


async def is_resubmitted_answer(db: AsyncSession, *, ticket: Ticket, text: str, now: datetime) -> bool:
    """Whether the ticket's latest message is this same trainer answer, sent moments ago."""
    latest = (await db.exec(select(TicketMessage).where(col(TicketMessage.ticket_id) == ticket.id).order_by(
        col(TicketMessage.created_at).desc(), col(TicketMessage.id).desc()).limit(1))).first()
    return (latest is not None and latest.author == "trainer" and latest.body.strip() == text.strip()
            and now - latest.created_at < RESUBMIT_WINDOW)


async def close_ticket(db: AsyncSession, *, ticket: Ticket, by: int, now: datetime) -> None:
    previous = ticket.status
    ticket.status = TicketStatus.CLOSED
    ticket.closed_at = now
    db.add(ticket)
    await record_audit(db, entity="ticket", entity_id=ticket.id or 0, action="close", at=now,
                       from_state=previous, to_state=TicketStatus.CLOSED, detail={"by": by})


async def reopen_ticket(db: AsyncSession, *, ticket: Ticket, by: int, now: datetime) -> None:
    previous = ticket.status
    ticket.status = TicketStatus.OPEN if ticket.first_response_at is None else TicketStatus.ANSWERED
    ticket.closed_at = None
    db.add(ticket)
    await record_audit(db, entity="ticket", entity_id=ticket.id or 0, action="reopen", at=now,
                       from_state=previous, to_state=ticket.status, detail={"by": by})


async def acknowledge_alert(db: AsyncSession, *, alert: Alert, by: int, now: datetime) -> None:
    if alert.acknowledged_at is None:
        alert.acknowledged_at = now
        alert.acknowledged_by_id = by
        db.add(alert)
        await record_audit(db, entity="alert", entity_id=alert.id or 0, action="acknowledge", at=now,
                           detail={"by": by})


async def set_task_done(db: AsyncSession, *, task: Alert, done: bool, by: int, now: datetime) -> None:
    task.done_at = now if done else None
    task.acknowledged_at = task.acknowledged_at or (now if done else None)
    task.acknowledged_by_id = by
    db.add(task)
    await record_audit(db, entity="alert", entity_id=task.id or 0, action="task_done" if done else "task_reopen",
                       at=now, detail={"by": by})


async def add_note(db: AsyncSession, *, learner: Learner, body: str, by: int, now: datetime) -> LearnerNote:
    note = LearnerNote(learner_id=learner.id or 0, author_id=by, body=body.strip(), created_at=now)
    db.add(note)
    return note


async def mark_at_risk(db: AsyncSession, *, learner: Learner, at_risk: bool, reason: str | None, by: int,
                       now: datetime) -> None:
    previous = learner.at_risk
    learner.at_risk = at_risk
    learner.at_risk_reason = (reason or "").strip() or None if at_risk else None
    db.add(learner)
    await record_audit(db, entity="learner", entity_id=learner.id or 0, action="at_risk", at=now,
                       from_state=str(previous).lower(), to_state=str(at_risk).lower(), detail={"by": by})


async def act_on_enrollment(db: AsyncSession, *, enrollment: Enrollment, learner: Learner, action: str,
                            by: int, now: datetime) -> int:
    """Pause, resume or stop, as the integration API does; returns the deliveries changed."""
    if action == "pause" and enrollment.status == EnrollmentStatus.ACTIVE:
        await enrolment.pause(db, enrollment=enrollment, now=now)
        return 0
    if action == "resume" and enrollment.status == EnrollmentStatus.PAUSED:
        return await enrolment.resume(db, enrollment=enrollment, learner=learner, now=now)
    if action == "stop" and enrollment.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED):
        return await enrolment.stop(db, enrollment=enrollment, reason=f"arrêté depuis le tableau de bord ({by})",
                                    now=now)
    raise ValueError(f"cannot {action} an enrolment that is {enrollment.status}")


async def send_message(db: AsyncSession, *, enrollments: list[Enrollment], text: str, by: int,
                       now: datetime) -> int:
    """One message per enrolment (a learner once), on the campaign's channels; returns how many."""
    body = text.strip()[:MAX_MESSAGE]
    chosen: dict[int, Enrollment] = {}
    for enrollment in enrollments:
        if enrollment.status in (EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED, EnrollmentStatus.COMPLETED):
            chosen.setdefault(enrollment.learner_id, enrollment)
    if not chosen or not body:
        return 0
    ids = [e.id for e in chosen.values()]
    versions = {v.id: v for v in (await db.exec(select(CampaignVersion).where(
        col(CampaignVersion.id).in_({e.campaign_version_id for e in chosen.values()})))).all()}
    counts = dict((await db.exec(sa_select(col(Delivery.enrollment_id), func.count()).where(  # type: ignore[call-overload]
        col(Delivery.enrollment_id).in_(ids), col(Delivery.step_id) == MESSAGE_STEP).group_by(
        col(Delivery.enrollment_id)))).all())
    for enrollment in chosen.values():
        version = versions.get(enrollment.campaign_version_id)
        defaults = ((version.definition if version else {}).get("campaign") or {}).get("defaults") or {}
        channels = list(defaults.get("channels") or ["sms"])
        db.add(Delivery(enrollment_id=enrollment.id or 0, learner_id=enrollment.learner_id, step_id=MESSAGE_STEP,
                        occurrence=counts.get(enrollment.id, 0), kind="text", recipient="learner",
                        channels=channels, due_at=now, origin=DeliveryOrigin.SYSTEM, rendered={"body": body}))
    await record_audit(db, entity="enrollment", entity_id=ids[0] or 0, action="dashboard_message", at=now,
                       detail={"by": by, "learners": len(chosen)})
    return len(chosen)


async def assign_session(db: AsyncSession, *, training: TrainingSession, trainer_id: int | None, by: int,
                         now: datetime) -> None:
    """Who leads the session (and so sees it on the dashboard); quality managers only."""
    previous = training.trainer_id
    training.trainer_id = trainer_id
    db.add(training)
    await record_audit(db, entity="training_session", entity_id=training.id or 0, action="assign_trainer", at=now,
                       from_state=str(previous), to_state=str(trainer_id), detail={"by": by})
