"""Processing one stored inbound event: who sent it, what it answers, and what follows.

The webhook stored the raw event and acknowledged it; this job does the rest in
one transaction per event, with the learner's row locked so that a reply and a
scheduled send for the same learner never interleave. An event is processed
once: a redelivered job finds it no longer ``received`` and stops.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.content.render import RenderError, render
from engine.core.branching import newly_holding
from engine.core.conversation import answer_question, answer_quiz, outcome_from_trail, thanks
from engine.core.faq import match_faq
from engine.core.replies import Keyword, detect_keyword
from engine.core.signals import complaint_words
from engine.core.spaced import ReviewState, new_state, record_answer
from engine.core.timeline import apply_offset
from engine.services.actions import raise_alert, run_actions
from engine.services.catalog import PinnedCampaign, load_pinned
from engine.services.compose import continue_prompt
from engine.services.context import recipient_for
from engine.services.runtime import Runtime
from engine.services.texts import help_text, late_reply_text, opt_in_text, opt_out_text
from engine.store.base import DeliveryOrigin, EnrollmentStatus, InboundStatus, PromptStatus
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
from engine.store.queries import (
    find_learner_by_phone,
    open_prompt_for,
    record_opt_in,
    record_opt_out,
)

FAQ_AUTOREPLY_CONFIDENCE = 0.6
LATE_REPLY_WINDOW = timedelta(days=7)


async def process_inbound(rt: Runtime, event_id: int) -> str:
    """Processes one stored event; returns what was done (for logs and tests)."""
    now = rt.now()
    async with rt.sessions() as session, session.begin():
        event = await session.get(InboundEvent, event_id)
        if event is None:
            return "missing"
        if event.status != InboundStatus.RECEIVED:
            return "already processed"
        learner = await _sender(session, event)
        if learner is None:
            event.status = InboundStatus.IGNORED
            event.error = "unknown sender"
            event.processed_at = now
            session.add(event)
            return "unknown sender"
        if rt.engine.dialect.name == "postgresql":
            await session.exec(select(Learner.id).where(Learner.id == learner.id).with_for_update())
        event.learner_id = learner.id
        outcome = await _handle(session, rt, event, learner, now)
        event.status = InboundStatus.PROCESSED
        event.processed_at = now
        session.add(event)
    return outcome


async def _sender(session: AsyncSession, event: InboundEvent) -> Learner | None:
    sender = event.sender
    if sender.startswith("learner:"):
        try:
            learner = await session.get(Learner, int(sender.split(":", 1)[1]))
        except ValueError:
            return None
        return learner if learner is not None and learner.erased_at is None else None
    phone = sender.removeprefix("whatsapp:")
    return await find_learner_by_phone(session, phone=phone)


async def _latest_enrollment(session: AsyncSession, learner: Learner) -> Enrollment | None:
    return (await session.exec(select(Enrollment).where(Enrollment.learner_id == learner.id)
                                .order_by(col(Enrollment.status) != EnrollmentStatus.ACTIVE,
                                          col(Enrollment.created_at).desc()))).first()


async def _reply_message(session: AsyncSession, *, learner: Learner, enrollment: Enrollment | None,
                         channel: str, body: str, now: datetime, key: int, step_id: str = "system",
                         origin: str = DeliveryOrigin.SYSTEM, prompt: dict[str, Any] | None = None) -> bool:
    """Queues a message back to the learner on the channel they wrote from (sent at once)."""
    if enrollment is None or enrollment.id is None:
        return False
    rendered: dict[str, Any] = {"body": body}
    if prompt is not None:
        rendered["prompt"] = prompt
    session.add(Delivery(enrollment_id=enrollment.id, learner_id=learner.id or 0, step_id=step_id,
                         occurrence=key, kind="text", recipient="learner", channels=[channel], due_at=now,
                         origin=origin, rendered=rendered))
    return True


async def _handle(session: AsyncSession, rt: Runtime, event: InboundEvent, learner: Learner, now: datetime) -> str:
    keyword = detect_keyword(event.body) if event.provider in ("twilio", "sandbox") else None
    enrollment = await _latest_enrollment(session, learner)
    key = event.id or 0
    if keyword is Keyword.STOP:
        await record_opt_out(session, learner_id=learner.id or 0, channel=event.channel, at=now)
        await _reply_message(session, learner=learner, enrollment=enrollment, channel=event.channel,
                             body=opt_out_text(learner.locale), now=now, key=key)
        return "opted out"
    if keyword is Keyword.START:
        await record_opt_in(session, learner_id=learner.id or 0, channel=event.channel, at=now)
        await _reply_message(session, learner=learner, enrollment=enrollment, channel=event.channel,
                             body=opt_in_text(learner.locale), now=now, key=key)
        return "opted in"
    if keyword is Keyword.HELP:
        await _reply_message(session, learner=learner, enrollment=enrollment, channel=event.channel,
                             body=help_text(learner.locale), now=now, key=key)
        return "help"
    prompt = await _prompt_for(session, event, learner, now)
    if prompt is not None:
        return await _answer(session, rt, event, learner, prompt, now)
    return await _question_or_late(session, rt, event, learner, enrollment, now)


async def _prompt_for(session: AsyncSession, event: InboundEvent, learner: Learner, now: datetime) -> Prompt | None:
    prompt_id = (event.raw or {}).get("prompt_id")
    if prompt_id is not None:
        prompt = await session.get(Prompt, int(prompt_id))
        if prompt is not None and prompt.learner_id == learner.id and prompt.status == PromptStatus.OPEN \
                and prompt.expires_at > now:
            return prompt
        return None
    return await open_prompt_for(session, learner_id=learner.id or 0, channel=event.channel, now=now)


async def _answer(session: AsyncSession, rt: Runtime, event: InboundEvent, learner: Learner,
                  prompt: Prompt, now: datetime) -> str:
    enrollment = await session.get(Enrollment, prompt.enrollment_id)
    assert enrollment is not None
    pinned = await load_pinned(session, enrollment.campaign_version_id)
    locale = pinned.campaign.locale
    ref, _, question_id = prompt.question_ref.partition("#")
    trail = (prompt.expectation or {}).get("trail")
    if prompt.kind in ("quiz", "review"):
        bank = pinned.content.banks.get(ref)
        item = bank.item(question_id) if bank else None
        if item is None:
            return "prompt content missing"
        turn = answer_quiz(item, event.body, trail=trail, clarified=prompt.clarification_sent, locale=locale)
    else:
        source = pinned.content.surveys if prompt.kind == "survey" else pinned.content.checkins
        survey = source.get(ref)
        question = survey.question(question_id) if survey else None
        if survey is None or question is None:
            return "prompt content missing"
        turn = answer_question(question, event.body, trail=trail, clarified=prompt.clarification_sent,
                               locale=locale)
    key = event.id or 0
    if turn.status == "clarify":
        prompt.clarification_sent = True
        session.add(prompt)
        await _reply_message(session, learner=learner, enrollment=enrollment, channel=prompt.channel,
                             body=turn.feedback or "", now=now, key=key, step_id=prompt.step_id,
                             origin=DeliveryOrigin.FEEDBACK)
        return "clarification asked"
    session.add(Reply(inbound_event_id=event.id, prompt_id=prompt.id, learner_id=learner.id or 0,
                      enrollment_id=enrollment.id, kind=prompt.kind, raw_text=event.body,
                      value={"question": prompt.question_ref, "value": turn.value, "status": turn.status},
                      correct=turn.correct, created_at=now))
    prompt.status = PromptStatus.ANSWERED
    prompt.answered_at = now
    session.add(prompt)
    for kind, reason in turn.alerts:
        await raise_alert(session, learner=learner, enrollment=enrollment, kind=kind, reason=reason, at=now)
    if turn.correct is not None:
        await _update_card(session, pinned, enrollment, learner, ref, question_id, turn.correct, now)
        if not turn.correct:
            await _repeated_failure(session, learner, enrollment, now)
    queue = list((prompt.expectation or {}).get("queue", []))
    step = pinned.campaign.step(prompt.step_id)
    if step is not None and prompt.kind != "review":
        fired = set(turn.trail.get("fired", []))
        for index, actions in newly_holding(step, outcome_from_trail(prompt.kind, turn.trail), fired=fired,
                                            final=not queue):
            await run_actions(session, pinned=pinned, enrollment=enrollment, learner=learner, step=step,
                              actions=actions, at=now, trigger=key * 10 + index)
            fired.add(index)
        turn.trail["fired"] = sorted(fired)
    expires_in = prompt.expires_at - prompt.opened_at
    following = continue_prompt(content=pinned.content, kind=prompt.kind, question_ref=prompt.question_ref,
                                queue=queue, locale=locale, expires_in=expires_in)
    feedback = turn.feedback or ""
    render_for = await _renderer(session, rt, prompt, learner, enrollment, pinned)
    if following is not None:
        text, spec = following
        text = render_for(text)
        spec_dict = {"kind": spec.kind, "question_ref": spec.question_ref,
                     "expectation": {**spec.expectation, "trail": turn.trail}, "queue": spec.queue,
                     "expires_in": int(spec.expires_in.total_seconds())}
        body = f"{feedback}\n\n{text}".strip()
        await _reply_message(session, learner=learner, enrollment=enrollment, channel=prompt.channel, body=body,
                             now=now, key=key, step_id=prompt.step_id, origin=DeliveryOrigin.FEEDBACK,
                             prompt=spec_dict)
        return f"{turn.status}; next question"
    closing = feedback
    if prompt.kind in ("survey", "checkin"):
        source = pinned.content.surveys if prompt.kind == "survey" else pinned.content.checkins
        survey = source.get(ref)
        closing = render_for(survey.outro) if survey and survey.outro else thanks(locale)
    if closing:
        await _reply_message(session, learner=learner, enrollment=enrollment, channel=prompt.channel, body=closing,
                             now=now, key=key, step_id=prompt.step_id, origin=DeliveryOrigin.FEEDBACK)
    return f"{turn.status}; step done"


async def _renderer(session: AsyncSession, rt: Runtime, prompt: Prompt, learner: Learner,
                    enrollment: Enrollment, pinned: PinnedCampaign) -> Callable[[str], str]:
    """Renders follow-up texts (next question, outro) with the same context as the first message."""
    delivery = await session.get(Delivery, prompt.delivery_id)
    if delivery is None:
        return lambda text: text
    recipient = await recipient_for(session, rt.settings, delivery=delivery, learner=learner,
                                    enrollment=enrollment, campaign=pinned.campaign)

    def _render(text: str) -> str:
        try:
            return render(text, recipient.context)
        except RenderError:
            return text

    return _render


async def _update_card(session: AsyncSession, pinned: PinnedCampaign, enrollment: Enrollment, learner: Learner,
                       bank_ref: str, item_id: str, correct: bool, now: datetime) -> None:
    """Feeds the answer to FSRS: the item's next review date moves."""
    card = (await session.exec(select(ReviewCard).where(
        ReviewCard.learner_id == learner.id, ReviewCard.bank_ref == bank_ref, ReviewCard.item_id == item_id))).first()
    state = ReviewState.from_dict(card.state) if card else new_state(item_id, now=now)
    review_steps = [s for s in pinned.campaign.steps if s.review == bank_ref and s.until is not None]
    if review_steps and review_steps[0].until is not None:
        end = apply_offset(enrollment.anchor_at, review_steps[0].until, learner.timezone)
        horizon = max(1, (end - now).days)
    else:
        horizon = 60
    updated = record_answer(state, correct=correct, at=now, horizon_days=horizon)
    if card is None:
        card = ReviewCard(learner_id=learner.id or 0, bank_ref=bank_ref, item_id=item_id,
                          state=updated.to_dict(), due_at=updated.due, retired=updated.retired)
    else:
        card.state, card.due_at, card.retired, card.updated_at = updated.to_dict(), updated.due, updated.retired, now
    session.add(card)


async def _repeated_failure(session: AsyncSession, learner: Learner, enrollment: Enrollment, now: datetime) -> None:
    """Three wrong quiz answers in a row: the trainer is told."""
    recent = (await session.exec(select(Reply.correct).where(
        Reply.learner_id == learner.id, col(Reply.correct).is_not(None)).order_by(col(Reply.id).desc()).limit(3))).all()
    if len(recent) == 3 and not any(recent):
        await raise_alert(session, learner=learner, enrollment=enrollment, kind="quiz_failure",
                          reason="Trois mauvaises réponses de suite aux quiz", at=now)


async def _question_or_late(session: AsyncSession, rt: Runtime, event: InboundEvent, learner: Learner,
                            enrollment: Enrollment | None, now: datetime) -> str:
    """No open question: a late answer gets a polite word; anything else is a question for the trainers."""
    key = event.id or 0
    recent = (await session.exec(select(Prompt).where(
        Prompt.learner_id == learner.id, Prompt.channel == event.channel,
        col(Prompt.status).in_([PromptStatus.EXPIRED, PromptStatus.SUPERSEDED]),
        col(Prompt.expires_at) > now - LATE_REPLY_WINDOW).order_by(col(Prompt.opened_at).desc()))).first()
    if recent is not None and len(event.body.strip()) <= 12 and not complaint_words(event.body):
        session.add(Reply(inbound_event_id=event.id, prompt_id=recent.id, learner_id=learner.id or 0,
                          enrollment_id=recent.enrollment_id, kind="late", raw_text=event.body,
                          value={"question": recent.question_ref, "status": "late"}, created_at=now))
        await _reply_message(session, learner=learner, enrollment=enrollment, channel=event.channel,
                             body=late_reply_text(learner.locale), now=now, key=key)
        return "late reply"
    faq_entries = rt_faq(rt)
    match = match_faq(event.body, faq_entries) if faq_entries else None
    ticket = Ticket(learner_id=learner.id, session_id=enrollment.session_id if enrollment else None,
                    inbound_event_id=event.id, body=event.body, created_at=now,
                    due_by=now + timedelta(hours=rt.settings.ticket_response_hours),
                    faq_entry_id=match.entry_id if match else None)
    words = complaint_words(event.body)
    if words:
        await raise_alert(session, learner=learner, enrollment=enrollment, kind="complaint",
                          reason=f"Message de mécontentement : {', '.join(words)}", at=now)
    if match is not None and match.confidence >= FAQ_AUTOREPLY_CONFIDENCE and enrollment is not None:
        pinned = await load_pinned(session, enrollment.campaign_version_id)
        entry = next((e for e in faq_entries if e.id == match.entry_id), None)
        if pinned.campaign.faq_autoreply and entry is not None and not words:
            ticket.auto_answered = True
            await _reply_message(session, learner=learner, enrollment=enrollment, channel=event.channel,
                                 body=entry.answer, now=now, key=key)
    session.add(ticket)
    return "ticket" + (" (FAQ answer sent)" if ticket.auto_answered else "")


def rt_faq(rt: Runtime) -> list[Any]:
    """The FAQ entries of the content library (loaded once per process)."""
    from engine.services.texts import faq_entries

    return faq_entries(rt.settings.content_dir)


async def sweep_unprocessed(rt: Runtime, *, now: datetime, enqueue: Any, older_than: timedelta = timedelta(seconds=30)) -> int:
    """Events stored but never processed (Redis was down at intake): enqueue them again."""
    async with rt.sessions() as session:
        ids = (await session.exec(select(InboundEvent.id).where(
            InboundEvent.status == InboundStatus.RECEIVED,
            col(InboundEvent.received_at) < now - older_than).limit(500))).all()
    for event_id in ids:
        if event_id is not None:
            await enqueue(event_id)
    return len(ids)

