"""The trainers' inbox: learner questions and complaints, answered within a target time."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.base import DeliveryOrigin, EnrollmentStatus, TicketAuthor, TicketStatus
from engine.store.models import (
    Attendance,
    Delivery,
    Enrollment,
    InboundEvent,
    Ticket,
    TicketMessage,
    TrainingSession,
)

#: ``step_id`` of the deliveries carrying trainers' answers (``occurrence``: the answer's id).
ANSWER_STEP = "ticket"


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


@dataclass(frozen=True)
class TicketAnswered:
    """What :func:`answer_ticket` did."""

    ticket: Ticket
    #: The answer recorded for this idempotency key (the first one, on a repeat).
    message: TicketMessage
    #: The delivery carrying it to the learner; None when the learner cannot be reached.
    delivery_id: int | None
    #: True when the key had been seen: nothing new was recorded or sent.
    replayed: bool


class TicketNotFound(LookupError):
    """No ticket with that id."""


#: Channels tried, in order, after the one the learner wrote from. Not WhatsApp: outside
#: a conversation the learner opened there, WhatsApp accepts only approved templates.
FALLBACK_CHANNELS = ("sms", "email", "push")


def derived_idempotency_key(text: str) -> str:
    """The key of an answer sent without one: the same text twice on a ticket is one answer."""
    return "text:" + hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:40]


async def answer_ticket(session: AsyncSession, *, ticket_id: int, author_trainer_id: int | None, text: str,
                        idempotency_key: str | None, now: datetime, close: bool = False) -> TicketAnswered:
    """Records a trainer's answer to a ticket and queues it to the learner, once per idempotency key.

    For the API and the dashboard alike; the caller has checked that the author
    may see the ticket, and commits. ``idempotency_key``: the client's key (an
    ``Idempotency-Key`` header, a form token), or None to derive one from the
    text, so a repeated request (a double click, a client retry) returns the
    first answer and sends nothing new. The answer goes out on the channel the
    learner wrote from when it still reaches them, else by SMS, e-mail, push
    (the send job's normal fallback, channel by channel). Stamps the
    first human response (the 48 h target) and the ticket's status.
    Raises :class:`TicketNotFound`.
    """
    key = idempotency_key or derived_idempotency_key(text)
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    first = await _answer_with_key(session, ticket_id, key)
    if first is not None:
        return TicketAnswered(ticket, first, await _delivery_of(session, first), replayed=True)
    message = TicketMessage(ticket_id=ticket_id, author=TicketAuthor.TRAINER, body=text, created_at=now,
                            author_trainer_id=author_trainer_id, idempotency_key=key)
    try:
        async with session.begin_nested():
            session.add(message)
            await session.flush()
    except IntegrityError:  # the same key in a concurrent request, which won
        first = await _answer_with_key(session, ticket_id, key)
        assert first is not None
        return TicketAnswered(ticket, first, await _delivery_of(session, first), replayed=True)
    if ticket.first_response_at is None:
        ticket.first_response_at = now
    ticket.status = TicketStatus.CLOSED if close else TicketStatus.ANSWERED
    if close:
        ticket.closed_at = now
    session.add(ticket)
    delivery = await _queue_answer(session, ticket, message, now)
    return TicketAnswered(ticket, message, delivery.id if delivery else None, replayed=False)


async def _answer_with_key(session: AsyncSession, ticket_id: int, key: str) -> TicketMessage | None:
    return (await session.exec(select(TicketMessage).where(
        TicketMessage.ticket_id == ticket_id, TicketMessage.idempotency_key == key))).first()


async def _delivery_of(session: AsyncSession, message: TicketMessage) -> int | None:
    return (await session.exec(select(Delivery.id).where(
        Delivery.step_id == ANSWER_STEP, Delivery.occurrence == message.id,
        Delivery.origin == DeliveryOrigin.FEEDBACK))).first()


async def _queue_answer(session: AsyncSession, ticket: Ticket, message: TicketMessage,
                        now: datetime) -> Delivery | None:
    """The answer as a delivery due now, with the channels to try in order; None if unreachable."""
    if ticket.learner_id is None:
        return None
    enrollment = (await session.exec(select(Enrollment).where(Enrollment.learner_id == ticket.learner_id)
                                     .order_by(col(Enrollment.status) != EnrollmentStatus.ACTIVE,
                                               col(Enrollment.created_at).desc()))).first()
    if enrollment is None or enrollment.id is None:
        return None
    asked_on = None
    if ticket.inbound_event_id is not None:
        event = await session.get(InboundEvent, ticket.inbound_event_id)
        asked_on = event.channel if event is not None else None
    channels = list(dict.fromkeys([*([asked_on] if asked_on else []), *FALLBACK_CHANNELS]))
    delivery = Delivery(enrollment_id=enrollment.id, learner_id=ticket.learner_id, step_id=ANSWER_STEP,
                        occurrence=message.id or 0, kind="text", recipient="learner", channels=channels,
                        due_at=now, origin=DeliveryOrigin.FEEDBACK, rendered={"body": message.body})
    session.add(delivery)
    await session.flush()
    return delivery
