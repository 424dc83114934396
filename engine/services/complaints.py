"""The complaints register (Qualiopi indicator 31): every learner request categorised, with
when it was received, on which channel, its acknowledgement, first human response,
resolution and the corrective action it led to.

The acknowledgement sent to the learner when a ticket opens is a conversation rule (the
engine's); :func:`acknowledge` is what it calls to stamp it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.indicators import RESPONSE_TARGET, Period
from engine.reports.evidence.rows import load_tickets
from engine.reports.evidence.tables import CATEGORY_LABELS
from engine.store.models import ImprovementAction, Learner, Ticket

PER_PAGE = 50


class ComplaintInvalid(ValueError):
    """Something the register refuses (message in French)."""


async def acknowledge(session: AsyncSession, *, ticket_id: int, now: datetime) -> bool:
    """Stamps the acknowledgement once (later calls keep the first time)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.acknowledged_at is not None:
        return False
    ticket.acknowledged_at = now
    session.add(ticket)
    return True


async def resolve(session: AsyncSession, *, ticket_id: int, resolution: str, now: datetime,
                  corrective_action_id: int | None = None) -> Ticket:
    """Records how the request was settled, and the corrective action if one was decided."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise ComplaintInvalid(f"aucune demande n°{ticket_id}")
    if not resolution.strip():
        raise ComplaintInvalid("décrivez la résolution")
    if corrective_action_id is not None and await session.get(ImprovementAction, corrective_action_id) is None:
        raise ComplaintInvalid(f"aucune action n°{corrective_action_id}")
    ticket.resolution, ticket.resolved_at = resolution.strip(), now
    if corrective_action_id is not None:
        ticket.corrective_action_id = corrective_action_id
    session.add(ticket)
    return ticket


class ComplaintView(BaseModel):
    id: int
    received_at: datetime
    channel: str
    category: str
    category_label: str
    learner: str
    session_id: int | None
    body: str
    acknowledged_at: datetime | None
    first_response_at: datetime | None
    response_hours: float | None
    within_target: bool | None
    resolved_at: datetime | None
    corrective_action_id: int | None


class ComplaintsRegister(BaseModel):
    entries: list[ComplaintView]
    total: int
    page: int
    pages: int
    counts: dict[str, int]


async def complaints_register(session: AsyncSession, *, period: Period, category: str | None = None,
                              session_ids: set[int] | None = None, page: int = 1,
                              per_page: int = PER_PAGE) -> ComplaintsRegister:
    """One page of the register, newest first; three queries whatever its size."""
    tickets = sorted(await load_tickets(session, period=period, session_ids=session_ids),
                     key=lambda t: t.received_at, reverse=True)
    counts = {label: sum(1 for t in tickets if t.category == key) for key, label in CATEGORY_LABELS.items()}
    chosen = [t for t in tickets if category is None or t.category == category]
    shown = chosen[(page - 1) * per_page: page * per_page]
    ids = {t.learner_id for t in shown if t.learner_id is not None}
    names = {i: f"{f} {n}".strip() for i, f, n in (await session.exec(
        select(Learner.id, Learner.first_name, Learner.last_name).where(col(Learner.id).in_(ids)))).all()} if ids else {}
    entries = []
    for t in shown:
        hours = ((t.first_human_response_at - t.received_at).total_seconds() / 3600
                 if t.first_human_response_at else None)
        entries.append(ComplaintView(
            id=t.ticket_id, received_at=t.received_at, channel=t.channel, category=t.category,
            category_label=CATEGORY_LABELS.get(t.category, t.category), learner=names.get(t.learner_id or 0, ""),
            session_id=t.session_id, body=t.body, acknowledged_at=t.acknowledged_at,
            first_response_at=t.first_human_response_at, response_hours=hours,
            within_target=None if hours is None else hours <= RESPONSE_TARGET.total_seconds() / 3600,
            resolved_at=t.resolved_at, corrective_action_id=t.corrective_action_id))
    return ComplaintsRegister(entries=entries, total=len(chosen), page=page,
                              pages=max(1, -(-len(chosen) // per_page)), counts=counts)
