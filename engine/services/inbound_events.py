"""Applying the conversation engine's events inside the reply's transaction.

One function per event kind, registered in :data:`HANDLERS` (an explicit dict, no
import side effects). Messages back to the learner become delivery rows due now;
the tick sends them after commit. Nothing here decides: every rule is in
:mod:`engine.core.flow`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.content.render import RenderError, render
from engine.core import events as ev
from engine.core.branching import silence_actions
from engine.core.flow import CONFIRM_KIND, CONFIRM_REF, OpenQuestion
from engine.core.questions import expectation_json
from engine.core.replies import Expectation
from engine.services import complaints, testimonials
from engine.services.actions import raise_alert, run_actions
from engine.services.catalog import PinnedCampaign
from engine.services.context import recipient_for
from engine.services.runtime import Runtime
from engine.store.base import DeliveryOrigin, PromptStatus
from engine.store.models import (
    Delivery,
    Enrollment,
    InboundEvent,
    Learner,
    Prompt,
    Reply,
    ReviewCard,
    Ticket,
)
from engine.store.queries import record_opt_in, record_opt_out


@dataclass
class Applying:
    """What the handlers write with: the transaction, the message, and what was loaded for it."""

    session: AsyncSession
    rt: Runtime
    event: InboundEvent
    learner: Learner
    now: datetime
    enrollment: Enrollment | None
    prompts: dict[int, Prompt]
    pinned: dict[int, PinnedCampaign]
    question: OpenQuestion | None = None
    #: The ticket this message opened (its acknowledgement is stamped on it).
    ticket: Ticket | None = None
    #: The learner's review cards by (bank, item), when loaded with the batch; None: look them up.
    cards: dict[tuple[str, str], ReviewCard] | None = None
    _enrollments: dict[int, Enrollment] = field(default_factory=dict)

    @property
    def key(self) -> int:
        return self.event.id or 0

    async def question_enrollment(self) -> Enrollment | None:
        """The enrolment of the question answered, else the learner's latest one."""
        if self.question is None:
            return self.enrollment
        if self.question.enrollment_id not in self._enrollments:
            row = await self.session.get(Enrollment, self.question.enrollment_id)
            if row is None:
                return self.enrollment
            self._enrollments[self.question.enrollment_id] = row
        return self._enrollments[self.question.enrollment_id]


def _queue_message(a: Applying, *, enrollment: Enrollment | None, channel: str, body: str, step_id: str = "system",
                   origin: str = DeliveryOrigin.SYSTEM, prompt: dict[str, Any] | None = None) -> bool:
    """A message back to the learner on the channel they wrote from, due now (sent after commit)."""
    if enrollment is None or enrollment.id is None or not body:
        return False
    rendered: dict[str, Any] = {"body": body}
    if prompt is not None:
        rendered["prompt"] = prompt
    a.session.add(Delivery(enrollment_id=enrollment.id, learner_id=a.learner.id or 0, step_id=step_id,
                           occurrence=a.key, kind="text", recipient="learner", channels=[channel], due_at=a.now,
                           origin=origin, rendered=rendered))
    return True


async def _opted_out(a: Applying, e: ev.OptedOut) -> None:
    await record_opt_out(a.session, learner_id=a.learner.id or 0, channel=e.channel, at=a.now)
    _queue_message(a, enrollment=a.enrollment, channel=e.channel, body=e.confirmation)


async def _opted_in(a: Applying, e: ev.OptedIn) -> None:
    await record_opt_in(a.session, learner_id=a.learner.id or 0, channel=e.channel, at=a.now)
    _queue_message(a, enrollment=a.enrollment, channel=e.channel, body=e.confirmation)


async def _help_sent(a: Applying, e: ev.HelpSent) -> None:
    _queue_message(a, enrollment=a.enrollment, channel=e.channel, body=e.text)


async def _stop_confirmation_asked(a: Applying, e: ev.StopConfirmationAsked) -> None:
    spec = {"kind": CONFIRM_KIND, "question_ref": CONFIRM_REF, "expectation": expectation_json(Expectation("yes_no")),
            "queue": [], "expires_in": e.expires_in_s}
    _queue_message(a, enrollment=a.enrollment, channel=e.channel, body=e.text, prompt=spec)


async def _clarification_asked(a: Applying, e: ev.ClarificationAsked) -> None:
    prompt = a.prompts[e.prompt_id]
    prompt.clarification_sent = True
    a.session.add(prompt)
    _queue_message(a, enrollment=await a.question_enrollment(), channel=e.channel, body=e.text, step_id=e.step_id,
                   origin=DeliveryOrigin.FEEDBACK)


async def _answer_graded(a: Applying, e: ev.AnswerGraded) -> None:
    prompt = a.prompts[e.prompt_id]
    if e.kind != CONFIRM_KIND:
        a.session.add(Reply(inbound_event_id=a.event.id, prompt_id=prompt.id, learner_id=a.learner.id or 0,
                            enrollment_id=prompt.enrollment_id, kind=prompt.kind, raw_text=a.event.body,
                            value={"question": prompt.question_ref, "value": e.value, "status": e.status},
                            correct=e.correct, created_at=a.now))
    prompt.status = PromptStatus.ANSWERED
    prompt.answered_at = a.now
    a.session.add(prompt)


async def _card_scheduled(a: Applying, e: ev.CardScheduled) -> None:
    if a.cards is not None:
        card = a.cards.get((e.bank_ref, e.item_id))
    else:
        card = (await a.session.exec(select(ReviewCard).where(
            ReviewCard.learner_id == a.learner.id, ReviewCard.bank_ref == e.bank_ref,
            ReviewCard.item_id == e.item_id))).first()
    if card is None:
        card = ReviewCard(learner_id=a.learner.id or 0, bank_ref=e.bank_ref, item_id=e.item_id, state=e.state,
                          due_at=e.due, retired=e.retired)
        if a.cards is not None:
            a.cards[(e.bank_ref, e.item_id)] = card
    else:
        card.state, card.due_at, card.retired, card.updated_at = e.state, e.due, e.retired, a.now
    a.session.add(card)


async def _alert_raised(a: Applying, e: ev.AlertRaised) -> None:
    await raise_alert(a.session, learner=a.learner, enrollment=await a.question_enrollment(), kind=e.kind,
                      reason=e.reason, at=a.now)


async def _branch_taken(a: Applying, e: ev.BranchTaken) -> None:
    enrollment = await a.question_enrollment()
    pinned = a.pinned.get(enrollment.id or 0) if enrollment else None
    step = pinned.campaign.step(e.step_id) if pinned else None
    if enrollment is None or pinned is None or step is None:
        return
    actions = silence_actions(step) if e.index < 0 else step.if_[e.index].actions
    await run_actions(a.session, pinned=pinned, enrollment=enrollment, learner=a.learner, step=step,
                      actions=actions, at=a.now, trigger=e.trigger)


async def _render(a: Applying, enrollment: Enrollment, text: str) -> str:
    """Renders follow-up texts (next question, outro) with the same context as the question's message."""
    question = a.question
    prompt = a.prompts.get(question.prompt_id) if question else None
    pinned = a.pinned.get(enrollment.id or 0)
    delivery = await a.session.get(Delivery, prompt.delivery_id) if prompt else None
    if delivery is None or pinned is None:
        return text
    recipient = await recipient_for(a.session, a.rt.settings, delivery=delivery, learner=a.learner,
                                    enrollment=enrollment, campaign=pinned.campaign)
    try:
        return render(text, recipient.context)
    except RenderError:
        return text


async def _feedback_queued(a: Applying, e: ev.FeedbackQueued) -> None:
    enrollment = await a.question_enrollment()
    if enrollment is None:
        return
    follow_up = await _render(a, enrollment, e.follow_up) if e.follow_up else ""
    body = "\n\n".join(part for part in (e.feedback, follow_up) if part).strip()
    spec = None
    if e.next_question is not None:
        q = e.next_question
        spec = {"kind": q.kind, "question_ref": q.question_ref, "expectation": q.expectation, "queue": q.queue,
                "expires_in": q.expires_in_s}
    origin = DeliveryOrigin.SYSTEM if e.step_id == "system" else DeliveryOrigin.FEEDBACK
    _queue_message(a, enrollment=enrollment, channel=e.channel, body=body, step_id=e.step_id, origin=origin,
                   prompt=spec)


async def _late_reply_noted(a: Applying, e: ev.LateReplyNoted) -> None:
    closed = await a.session.get(Prompt, e.prompt_id)
    a.session.add(Reply(inbound_event_id=a.event.id, prompt_id=e.prompt_id, learner_id=a.learner.id or 0,
                        enrollment_id=closed.enrollment_id if closed else None, kind="late", raw_text=a.event.body,
                        value={"question": e.question_ref, "status": "late"}, created_at=a.now))
    _queue_message(a, enrollment=a.enrollment, channel=e.channel, body=e.text)


async def _ticket_opened(a: Applying, e: ev.TicketOpened) -> None:
    """The ticket; the FAQ's answer, if any, goes out in the acknowledgement that follows."""
    enrollment = a.enrollment
    reachable = enrollment is not None and enrollment.id is not None
    ticket = Ticket(learner_id=a.learner.id, session_id=enrollment.session_id if enrollment else None,
                    inbound_event_id=a.event.id, body=a.event.body, created_at=a.now,
                    due_by=a.now + timedelta(hours=a.rt.settings.ticket_response_hours),
                    faq_entry_id=e.faq_entry_id, auto_answered=e.auto_answer is not None and reachable)
    a.session.add(ticket)
    await a.session.flush()
    a.ticket = ticket


async def _ticket_acknowledged(a: Applying, e: ev.TicketAcknowledged) -> None:
    """Sent on the channel the learner wrote from; the complaints register shows when."""
    if _queue_message(a, enrollment=a.enrollment, channel=e.channel, body=e.text) and a.ticket is not None:
        await complaints.acknowledge(a.session, ticket_id=a.ticket.id or 0, now=a.now)


async def _testimonial_consent_withdrawn(a: Applying, e: ev.TestimonialConsentWithdrawn) -> None:
    await testimonials.withdraw(a.session, learner_id=a.learner.id or 0, now=a.now)
    _queue_message(a, enrollment=a.enrollment, channel=e.channel, body=e.confirmation)


async def _question_expired(a: Applying, e: ev.QuestionExpired) -> None:
    prompt = a.prompts[e.prompt_id]
    prompt.status = PromptStatus.EXPIRED
    a.session.add(prompt)


Handler = Callable[[Applying, Any], Awaitable[None]]
HANDLERS: dict[type[Any], Handler] = {
    ev.OptedOut: _opted_out,
    ev.OptedIn: _opted_in,
    ev.HelpSent: _help_sent,
    ev.StopConfirmationAsked: _stop_confirmation_asked,
    ev.ClarificationAsked: _clarification_asked,
    ev.AnswerGraded: _answer_graded,
    ev.CardScheduled: _card_scheduled,
    ev.AlertRaised: _alert_raised,
    ev.BranchTaken: _branch_taken,
    ev.FeedbackQueued: _feedback_queued,
    ev.LateReplyNoted: _late_reply_noted,
    ev.TicketOpened: _ticket_opened,
    ev.TicketAcknowledged: _ticket_acknowledged,
    ev.TestimonialConsentWithdrawn: _testimonial_consent_withdrawn,
    ev.QuestionExpired: _question_expired,
}


async def apply_events(a: Applying, events: Iterable[ev.Event]) -> None:
    """Applies each event of a reply, in order, with the handler registered for its kind."""
    for event in events:
        await HANDLERS[type(event)](a, event)
