"""The trainers' inbox: learner questions and complaints, answered within a target time."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.base import DeliveryOrigin, TicketStatus
from engine.store.models import (
    Attendance,
    Delivery,
    Enrollment,
    InboundEvent,
    Ticket,
    TicketMessage,
    TrainingSession,
)


async def inbox(session: AsyncSession, *, state: str, trainer_id: int | None) -> list[Ticket]:
    """Tickets in a state (or all), oldest first; a trainer's key sees their sessions' learners only."""
    statement = select(Ticket).order_by(col(Ticket.created_at))
    if state != "all":
        statement = statement.where(col(Ticket.status) == state)
    if trainer_id is not None:
        mine = select(Attendance.learner_id).join(
            TrainingSession, col(TrainingSession.id) == col(Attendance.session_id)).where(
            col(TrainingSession.trainer_id) == trainer_id)
        statement = statement.where(col(Ticket.learner_id).in_(mine))
    return list((await session.exec(statement)).all())


async def answer_ticket(session: AsyncSession, *, ticket: Ticket, text: str, close: bool, now: datetime) -> bool:
    """Records the answer, stamps the first human response, and sends it back to the learner.

    Returns whether a message could be queued (the learner needs an enrolment to be reached).
    """
    session.add(TicketMessage(ticket_id=ticket.id or 0, author="trainer", body=text, created_at=now))
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    ticket.status = TicketStatus.CLOSED if close else TicketStatus.ANSWERED
    if close:
        ticket.closed_at = now
    session.add(ticket)
    if ticket.learner_id is None:
        return False
    enrollment = (await session.exec(select(Enrollment).where(Enrollment.learner_id == ticket.learner_id)
                                     .order_by(col(Enrollment.created_at).desc()))).first()
    if enrollment is None or enrollment.id is None:
        return False
    channel = "sms"
    if ticket.inbound_event_id is not None:
        event = await session.get(InboundEvent, ticket.inbound_event_id)
        channel = event.channel if event is not None else channel
    count = len((await session.exec(select(TicketMessage.id).where(TicketMessage.ticket_id == ticket.id))).all())
    session.add(Delivery(enrollment_id=enrollment.id, learner_id=ticket.learner_id, step_id="ticket",
                         occurrence=(ticket.id or 0) * 100 + count, kind="text", recipient="learner",
                         channels=[channel], due_at=now, origin=DeliveryOrigin.FEEDBACK, rendered={"body": text}))
    return True
