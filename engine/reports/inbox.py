"""The inbox: learner questions and complaints with their 48 h countdown, category and assignee."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.signals import guess_category
from engine.reports.facts import fetch
from engine.reports.scope import Viewer, tickets_filter, visible_ticket
from engine.store.base import TicketCategory, TicketStatus
from engine.store.models import Learner, Ticket, TicketMessage, Trainer, TrainingSession

PAGE_SIZE = 25
STATES = ("open", "answered", "closed", "all")


class TicketRow(BaseModel):
    id: int
    learner_id: int | None
    learner: str
    session_id: int | None
    session_title: str | None
    body: str
    status: str
    category: str
    category_guessed: bool
    assignee_id: int | None
    assignee: str | None
    created_at: datetime
    due_by: datetime
    first_response_at: datetime | None
    overdue: bool
    remaining_hours: float | None


class InboxView(BaseModel):
    tickets: list[TicketRow]
    state: str
    category: str
    mine: bool
    page: int
    pages: int
    total: int


class MessageRow(BaseModel):
    author: str
    at: datetime
    body: str


class TicketView(BaseModel):
    ticket: TicketRow
    messages: list[MessageRow]
    faq_entry_id: str | None
    assignees: list[tuple[int, str]]


def _row(ticket: Ticket, learner: str, session_title: str | None, assignee: str | None, now: datetime) -> TicketRow:
    waiting = ticket.status == TicketStatus.OPEN and ticket.first_response_at is None
    remaining = (ticket.due_by - now).total_seconds() / 3600 if waiting else None
    return TicketRow(
        id=ticket.id or 0, learner_id=ticket.learner_id, learner=learner, session_id=ticket.session_id,
        session_title=session_title, body=ticket.body, status=ticket.status,
        category=ticket.category or guess_category(ticket.body), category_guessed=ticket.category is None,
        assignee_id=ticket.assignee_id, assignee=assignee, created_at=ticket.created_at, due_by=ticket.due_by,
        first_response_at=ticket.first_response_at, overdue=waiting and now > ticket.due_by,
        remaining_hours=remaining)


def _base() -> object:
    return sa_select(Ticket, col(Learner.first_name), col(Learner.last_name), col(TrainingSession.title),
                     col(Trainer.name)).join(Learner, col(Learner.id) == col(Ticket.learner_id), isouter=True).join(
        TrainingSession, col(TrainingSession.id) == col(Ticket.session_id), isouter=True).join(
        Trainer, col(Trainer.id) == col(Ticket.assignee_id), isouter=True)


def _unpack(row: tuple[Ticket, str | None, str | None, str | None, str | None], now: datetime) -> TicketRow:
    ticket, first, last, title, assignee = row
    name = f"{first or ''} {last or ''}".strip() or "—"
    return _row(ticket, name, title, assignee, now)


async def inbox(db: AsyncSession, viewer: Viewer, *, now: datetime, state: str = "open", category: str = "",
                mine: bool = False, page: int = 1) -> InboxView:
    statement = _base().where(tickets_filter(viewer))  # type: ignore[attr-defined]
    if state in ("open", "answered", "closed"):
        statement = statement.where(col(Ticket.status) == state)
    if mine:
        statement = statement.where(col(Ticket.assignee_id) == viewer.trainer_id)
    rows = [_unpack(r, now) for r in await fetch(db, statement.order_by(col(Ticket.due_by), col(Ticket.id)))]
    if category in {c.value for c in TicketCategory}:
        rows = [r for r in rows if r.category == category]
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(max(1, page), pages)
    return InboxView(tickets=rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], state=state if state in STATES
                     else "open", category=category, mine=mine, page=page, pages=pages, total=len(rows))


async def ticket_page(db: AsyncSession, viewer: Viewer, ticket_id: int, *, now: datetime) -> TicketView:
    ticket = await visible_ticket(db, viewer, ticket_id)
    [row] = await fetch(db, _base().where(col(Ticket.id) == ticket_id))  # type: ignore[attr-defined]
    messages = [MessageRow(author=m.author, at=m.created_at, body=m.body) for (m,) in await fetch(
        db, sa_select(TicketMessage).where(col(TicketMessage.ticket_id) == ticket_id).order_by(
            col(TicketMessage.created_at), col(TicketMessage.id)))]
    if not messages or messages[0].body != ticket.body:
        messages.insert(0, MessageRow(author="learner", at=ticket.created_at, body=ticket.body))
    assignees = [(tid, name) for tid, name in await fetch(db, sa_select(col(Trainer.id), col(Trainer.name)).where(
        col(Trainer.disabled_at).is_(None)).order_by(col(Trainer.name)))]
    return TicketView(ticket=_unpack(row, now), messages=messages, faq_entry_id=ticket.faq_entry_id,
                      assignees=assignees)


async def open_ticket_count(db: AsyncSession, viewer: Viewer) -> int:
    [(count,)] = await fetch(db, sa_select(func.count()).select_from(Ticket).where(
        tickets_filter(viewer), col(Ticket.status) == TicketStatus.OPEN))
    return int(count)
