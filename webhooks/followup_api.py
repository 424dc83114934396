"""Follow-up actions for integrations and the dashboard: pause, resume or stop an enrolment,
move a learner's time zone, and the inbox of learner questions with its response-time target.

Routes stay thin: authenticate, load, call :mod:`engine.services.enrolment` or
:mod:`engine.services.tickets`, commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from pydantic import BaseModel, Field

from engine.services import enrolment
from engine.services.tickets import answer_ticket, inbox
from engine.services.visibility import visible_enrollment, visible_learner, visible_ticket
from engine.store.models import Learner, Ticket
from webhooks.deps import CurrentApiKey, RuntimeDep, SessionDep, viewer_of
from webhooks.fields import RowId, Text, TimeZoneName

router = APIRouter(prefix="/api/v1", tags=["follow-up"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "not found (or not visible to this key)"}}


class EnrollmentAction(BaseModel):
    action: Literal["pause", "resume", "stop"]
    reason: Text = Field(default="stopped by an operator", max_length=200)


class EnrollmentOut(BaseModel):
    id: int
    status: str
    changed: int = Field(description="Deliveries rescheduled, skipped or cancelled by the action.")


class TimezoneIn(BaseModel):
    timezone: TimeZoneName


class TicketOut(BaseModel):
    id: int
    learner_id: int | None
    body: str
    status: str
    faq_entry_id: str | None
    auto_answered: bool
    created_at: datetime
    due_by: datetime
    first_response_at: datetime | None
    overdue: bool


class TicketAnswer(BaseModel):
    text: Text = Field(min_length=1, max_length=1600)
    close: bool = False


@router.post("/enrollments/{enrollment_id}/actions", response_model=EnrollmentOut, responses=_NOT_FOUND)
async def act_on_enrollment(enrollment_id: RowId, data: EnrollmentAction, key: CurrentApiKey,
                            session: SessionDep, rt: RuntimeDep) -> EnrollmentOut:
    """Pause (nothing is sent), resume (overdue messages follow each step's policy) or stop."""
    row = await visible_enrollment(session, viewer_of(key), enrollment_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such enrolment")
    learner = await session.get(Learner, row.learner_id)
    assert learner is not None
    now = rt.now()
    changed = 0
    if data.action == "pause":
        await enrolment.pause(session, enrollment=row, now=now)
    elif data.action == "resume":
        changed = await enrolment.resume(session, enrollment=row, learner=learner, now=now)
    else:
        changed = await enrolment.stop(session, enrollment=row, reason=data.reason, now=now)
    await session.commit()
    return EnrollmentOut(id=enrollment_id, status=row.status, changed=changed)


@router.put("/learners/{learner_id}/timezone", response_model=EnrollmentOut, responses=_NOT_FOUND)
async def move_timezone(learner_id: RowId, data: TimezoneIn, key: CurrentApiKey, session: SessionDep,
                        rt: RuntimeDep) -> EnrollmentOut:
    """Moves the learner to another zone; every message not yet sent is planned again there."""
    learner = await visible_learner(session, viewer_of(key), learner_id)
    if learner is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such learner")
    moved = await enrolment.move_timezone(session, learner=learner, timezone=data.timezone, now=rt.now())
    await session.commit()
    return EnrollmentOut(id=learner_id, status="moved", changed=moved)


def _ticket_out(ticket: Ticket, now: datetime) -> TicketOut:
    overdue = ticket.first_response_at is None and ticket.status == "open" and now > ticket.due_by
    return TicketOut(id=ticket.id or 0, learner_id=ticket.learner_id, body=ticket.body, status=ticket.status,
                     faq_entry_id=ticket.faq_entry_id, auto_answered=ticket.auto_answered,
                     created_at=ticket.created_at, due_by=ticket.due_by,
                     first_response_at=ticket.first_response_at, overdue=overdue)


@router.get("/tickets", response_model=list[TicketOut])
async def list_tickets(key: CurrentApiKey, session: SessionDep, rt: RuntimeDep,
                       state: Annotated[Literal["open", "answered", "closed", "all"], Query()] = "open"
                       ) -> list[TicketOut]:
    """The inbox, oldest first; ``overdue`` means the first human answer missed its target."""
    now = rt.now()
    return [_ticket_out(t, now) for t in await inbox(session, state=state, trainer_id=key.trainer_id)]


@router.post("/tickets/{ticket_id}/answer", response_model=TicketOut, responses=_NOT_FOUND)
async def post_answer(ticket_id: RowId, data: TicketAnswer, key: CurrentApiKey, session: SessionDep,
                      rt: RuntimeDep, response: Response,
                      idempotency_key: Annotated[str | None, Header(
                          max_length=128, pattern=r"^[\x21-\x7e]+$",
                          description="Repeating a request with the same key returns the first answer "
                                      "and sends nothing new; without it, the same text twice is one answer."
                      )] = None) -> TicketOut:
    """A trainer's answer, sent once: on the channel the learner wrote from, else the next that reaches them.

    A repeat (same ``Idempotency-Key``, or the same text) answers ``Idempotent-Replayed: true``.
    """
    ticket = await visible_ticket(session, viewer_of(key), ticket_id)
    if ticket is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such ticket")
    now = rt.now()
    done = await answer_ticket(session, ticket_id=ticket_id, author_trainer_id=key.trainer_id, text=data.text,
                               idempotency_key=idempotency_key, now=now, close=data.close)
    await session.commit()
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _ticket_out(done.ticket, now)

