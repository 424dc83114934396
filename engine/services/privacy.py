"""A learner's personal data on request: export everything we hold, or erase it.

Erasing keeps the rows that make the organisation's history add up (counts,
statuses, dates for Qualiopi evidence) but removes what identifies the person
or what they wrote: names, addresses, message texts, free answers. Nothing is
sent to an erased learner again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.base import DeliveryStatus
from engine.store.models import (
    Alert,
    Delivery,
    Enrollment,
    InboundEvent,
    Learner,
    PushToken,
    Reply,
    ReviewCard,
    Ticket,
    TicketMessage,
)

ERASED = "(effacé)"


def _rows(rows: Any) -> list[dict[str, Any]]:
    return [row.model_dump(mode="json") for row in rows]


async def export_learner(session: AsyncSession, *, learner_id: int) -> dict[str, Any] | None:
    """Everything stored about one learner, as JSON-ready data (None when unknown)."""
    learner = await session.get(Learner, learner_id)
    if learner is None:
        return None

    async def of(model: Any) -> list[dict[str, Any]]:
        return _rows((await session.exec(select(model).where(model.learner_id == learner_id))).all())

    tickets = (await session.exec(select(Ticket).where(Ticket.learner_id == learner_id))).all()
    ticket_ids = [t.id for t in tickets]
    messages = (await session.exec(select(TicketMessage).where(
        col(TicketMessage.ticket_id).in_(ticket_ids)))).all() if ticket_ids else []
    return {
        "learner": learner.model_dump(mode="json"),
        "enrollments": await of(Enrollment), "deliveries": await of(Delivery),
        "replies": await of(Reply), "inbound_events": await of(InboundEvent),
        "review_cards": await of(ReviewCard), "alerts": await of(Alert),
        "push_tokens": await of(PushToken), "tickets": _rows(tickets), "ticket_messages": _rows(messages),
    }


async def erase_learner(session: AsyncSession, *, learner_id: int, now: datetime) -> bool:
    """Erases a learner's personal data and cancels every message not yet sent; False when unknown."""
    learner = await session.get(Learner, learner_id)
    if learner is None:
        return False
    for name in ("first_name", "last_name"):
        setattr(learner, name, ERASED)
    for name in ("external_id", "phone", "email", "manager_name", "manager_email", "manager_phone"):
        setattr(learner, name, None)
    learner.erased_at = now
    session.add(learner)
    await session.exec(update(Delivery).where(
        col(Delivery.learner_id) == learner_id, col(Delivery.status) == DeliveryStatus.PLANNED,
    ).values(status=DeliveryStatus.CANCELLED, status_reason="learner erased", finished_at=now))
    await session.exec(update(Delivery).where(col(Delivery.learner_id) == learner_id).values(rendered=None))
    await session.exec(update(Reply).where(col(Reply.learner_id) == learner_id).values(raw_text="", value=None))
    await session.exec(update(InboundEvent).where(col(InboundEvent.learner_id) == learner_id).values(
        body="", raw={}, sender=ERASED))
    await session.exec(update(Ticket).where(col(Ticket.learner_id) == learner_id).values(body=ERASED))
    await session.exec(update(Alert).where(col(Alert.learner_id) == learner_id).values(reason=ERASED))
    await session.exec(delete(PushToken).where(col(PushToken.learner_id) == learner_id))
    tickets = (await session.exec(select(Ticket.id).where(Ticket.learner_id == learner_id))).all()
    if tickets:
        await session.exec(update(TicketMessage).where(col(TicketMessage.ticket_id).in_(tickets)).values(
            body=ERASED))
    return True
