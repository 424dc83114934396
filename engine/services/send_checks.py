"""Deciding one queued delivery's fate at send time, and composing what it says.

Everything that may have changed since planning is checked again here: the
enrolment, the audience, the overdue policy, the send window, a question the
learner is still answering, opt-out, consent and reachability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.channels.base import OutboundMessage
from engine.core.catchup import is_overdue
from engine.core.questions import AskedQuestion, resumes_at, waiting_for
from engine.core.rules import quiz_seed
from engine.core.spaced import ReviewState
from engine.core.windows import is_open, next_open
from engine.services.catalog import PinnedCampaign, load_pinned
from engine.services.compose import Composed, PromptSpec, Skip, compose, wrap
from engine.services.context import recipient_for
from engine.services.delivery_state import set_status
from engine.services.reach import choose_channel, unreachable_reason
from engine.services.runtime import Runtime
from engine.store.base import DeliveryOrigin, DeliveryStatus, EnrollmentStatus, PromptStatus
from engine.store.models import Alert, Delivery, Enrollment, Learner, Prompt, ReviewCard

FIRST_PROMPT_CHECK = timedelta(hours=1)
ASKING_KINDS = ("quiz", "review", "survey", "checkin")


@dataclass
class Outgoing:
    delivery: Delivery
    learner: Learner
    channel: str
    message: OutboundMessage
    #: Until marked ``sending``: the composed message and the delivery's new ``rendered``.
    composed: Composed | None = None
    rendered: dict[str, Any] | None = None
    #: Moved ``queued → sending`` just before its provider call (see dispatch._Marker).
    marked: bool = False


@dataclass
class Known:
    """What a batch's decisions read of each learner, loaded once for the whole batch
    (:func:`prefetch`): the questions still open and the review cards of the banks asked.
    Per delivery, these were two statements each, a third of a send job's time."""

    open_prompts: dict[int, list[Prompt]] = field(default_factory=dict)
    cards: dict[tuple[int, str], list[ReviewCard]] = field(default_factory=dict)


async def prefetch(session: AsyncSession, rows: list[tuple[Delivery, Enrollment, Learner]]) -> Known:
    """The open questions and review cards the decisions of these rows will read (two statements).

    A batch decides one delivery per learner (dispatch's ``busy``), so nothing this
    batch does changes what another of its decisions reads here.
    """
    known = Known()
    asking = {learner.id for delivery, _, learner in rows if must_wait_for_open_questions(delivery)}
    if asking:
        for prompt in (await session.exec(select(Prompt).where(
                col(Prompt.learner_id).in_(asking), Prompt.status == PromptStatus.OPEN))).all():
            known.open_prompts.setdefault(prompt.learner_id, []).append(prompt)
    banks = {(learner.id, delivery.content_ref) for delivery, _, learner in rows
             if delivery.kind in ("quiz", "review") and delivery.content_ref}
    if banks:
        for card in (await session.exec(select(ReviewCard).where(
                col(ReviewCard.learner_id).in_({learner for learner, _ in banks}),
                col(ReviewCard.bank_ref).in_({bank for _, bank in banks})))).all():
            if (card.learner_id, card.bank_ref) in banks:
                known.cards.setdefault((card.learner_id, card.bank_ref), []).append(card)
    return known


async def decide(session: AsyncSession, rt: Runtime, delivery: Delivery, enrollment: Enrollment,
                  learner: Learner, push_token: str | None, now: datetime,
                  known: Known) -> tuple[str, Outgoing | None]:
    """One delivery's fate at send time, with the message when it is to be sent
    (``known``: :func:`prefetch` of its batch)."""
    label = await _check(session, rt, delivery, enrollment, learner, now, known)
    if label is not None:
        return label, None
    return await _choose_and_compose(session, rt, delivery, enrollment, learner, push_token, now, known)


async def _check(session: AsyncSession, rt: Runtime, delivery: Delivery, enrollment: Enrollment,
                 learner: Learner, now: datetime, known: Known) -> str | None:
    """Re-checks what may have changed since planning; a label when the delivery is not sent now."""
    if learner.erased_at is not None or enrollment.status in (EnrollmentStatus.STOPPED, EnrollmentStatus.COMPLETED):
        await set_status(session, delivery, DeliveryStatus.CANCELLED, now=now, finished_at=now,
                   status_reason="learner erased" if learner.erased_at else f"enrolment {enrollment.status}")
        return "cancelled"
    if enrollment.status == EnrollmentStatus.PAUSED:
        await set_status(session, delivery, DeliveryStatus.PLANNED, now=now, status_reason="enrolment paused")
        return "paused"
    pinned = await load_pinned(session, enrollment.campaign_version_id)
    campaign = pinned.campaign
    step = campaign.step(delivery.step_id)
    zone = ZoneInfo(learner.timezone)
    window = campaign.window_for(step) if step else campaign.defaults.window
    if step is not None and step.audience == "at_risk" and not learner.at_risk:
        await set_status(session, delivery, DeliveryStatus.SKIPPED, now=now, finished_at=now,
                   status_reason="audience at_risk: learner is not at risk")
        return "skipped"
    if is_overdue(delivery.due_at, now) and delivery.origin == "plan" and step is not None:
        policy = campaign.overdue_for(step)
        expire_after = (step.expire_after or campaign.defaults.expire_after).approx_timedelta()
        if policy == "skip" or (policy == "expire" and now - delivery.due_at > expire_after):
            status = DeliveryStatus.SKIPPED if policy == "skip" else DeliveryStatus.EXPIRED
            await set_status(session, delivery, status, now=now, finished_at=now, status_reason=f"overdue ({policy})")
            return str(status)
    conversational = delivery.origin in (DeliveryOrigin.FEEDBACK, DeliveryOrigin.SYSTEM)
    if delivery.recipient != "trainer" and not conversational and not is_open(now, window, zone):
        later = next_open(now, window, zone)
        await set_status(session, delivery, DeliveryStatus.PLANNED, now=now, due_at=later,
                   status_reason="outside the send window: moved to the next window")
        return "deferred"
    if delivery.recipient == "trainer":
        return await _trainer_task(session, rt, delivery, learner, enrollment, pinned, now, known)
    return None


async def _choose_and_compose(session: AsyncSession, rt: Runtime, delivery: Delivery, enrollment: Enrollment,
                              learner: Learner, push_token: str | None,
                              now: datetime, known: Known) -> tuple[str, Outgoing | None]:
    """Picks the first reachable channel not yet tried, composes, opens the prompt, marks sending."""
    pinned = await load_pinned(session, enrollment.campaign_version_id)
    campaign = pinned.campaign
    step = campaign.step(delivery.step_id)
    tried = list((delivery.rendered or {}).get("tried", []))
    preferences = delivery.channels or (campaign.channels_for(step) if step else campaign.defaults.channels)
    choice = choose_channel(preferences, learner=learner, recipient=delivery.recipient,
                            push_token=push_token, tried=tried,
                            confirmation=delivery.origin == DeliveryOrigin.SYSTEM)
    if choice is None:
        reason = unreachable_reason(preferences, learner=learner, recipient=delivery.recipient, tried=tried)
        status = DeliveryStatus.FAILED if tried else DeliveryStatus.SKIPPED
        await set_status(session, delivery, status, now=now, finished_at=now, status_reason=reason)
        return str(status), None
    channel, address = choice
    if must_wait_for_open_questions(delivery):
        waiting = _conversation_in_progress(session, known.open_prompts.get(learner.id or 0, []), delivery,
                                            channel, now)
        if waiting is not None:
            # Until that question's deadline, unless the learner closes it first (engine.services.waiting).
            window = campaign.window_for(step) if step else campaign.defaults.window
            later = resumes_at(waiting.expires_at, window, ZoneInfo(learner.timezone))
            await set_status(session, delivery, DeliveryStatus.PLANNED, now=now, due_at=later,
                             waits_for_prompt_id=waiting.prompt_id,
                             status_reason=f"learner is answering another question (prompt {waiting.prompt_id}"
                                           f" on {channel}): asked later")
            return "deferred", None
    composed = await _compose(session, rt, delivery, learner, enrollment, pinned, channel, now, known)
    if isinstance(composed, Skip):
        await set_status(session, delivery, DeliveryStatus.SKIPPED, now=now, finished_at=now, status_reason=composed.reason)
        return "skipped", None
    rendered = {**(delivery.rendered or {}), **composed.as_dict(), "tried": tried, "channel": channel}
    message = OutboundMessage(delivery_id=delivery.id or 0, channel=channel, to=address,  # type: ignore[arg-type]
                              body=composed.body, subject=composed.subject, html=composed.html,
                              title=composed.title, link=composed.link,
                              data={"delivery": str(delivery.id)})
    # Marked ``sending`` (compare-and-set) just before its provider call: see dispatch._Marker.
    return "sending", Outgoing(delivery, learner, channel, message, composed, rendered)


def must_wait_for_open_questions(delivery: Delivery) -> bool:
    """A question of the campaign waits while another can be answered; the engine's own
    follow-ups (feedback, the next question of a quiz, a clarification) do not."""
    return delivery.kind in ASKING_KINDS and delivery.origin != DeliveryOrigin.FEEDBACK


def _conversation_in_progress(session: AsyncSession, prompts: list[Prompt], delivery: Delivery, channel: str,
                              now: datetime) -> AskedQuestion | None:
    """The question the learner can still answer on ``channel`` that this one must wait for
    (the rule is :func:`engine.core.questions.waiting_for`), of the learner's open ``prompts``;
    past-deadline ones are closed."""
    for prompt in prompts:
        if prompt.expires_at <= now:
            prompt.status = PromptStatus.EXPIRED
            session.add(prompt)
    asked = [AskedQuestion(p.id or 0, p.delivery_id, p.channel, p.expires_at) for p in prompts
             if p.status == PromptStatus.OPEN]
    return waiting_for(asked, delivery_id=delivery.id or 0, channel=channel, now=now)


async def _compose(session: AsyncSession, rt: Runtime, delivery: Delivery, learner: Learner,
                   enrollment: Enrollment, pinned: PinnedCampaign, channel: str, now: datetime,
                   known: Known) -> Composed | Skip:
    step = pinned.campaign.step(delivery.step_id)
    if delivery.kind == "text":  # pre-rendered: feedback, reminders, FAQ answers
        stored = delivery.rendered or {}
        text = stored.get("body") or ""
        spec = stored.get("prompt")
        prompt = PromptSpec(spec["kind"], spec["question_ref"], spec["expectation"], spec.get("queue", []),
                            timedelta(seconds=spec.get("expires_in", 259200))) if spec else None
        if not text:
            return Skip("empty text")
        if prompt is not None and channel in ("email", "push"):  # the next question needs its answer link too
            recipient = await recipient_for(session, rt.settings, delivery=delivery, learner=learner,
                                            enrollment=enrollment, campaign=pinned.campaign)
            return wrap(text, channel, prompt, recipient, pinned.campaign.title, now)
        return Composed(text, subject=pinned.campaign.title, title=pinned.campaign.title, prompt=prompt)
    recipient = await recipient_for(session, rt.settings, delivery=delivery, learner=learner, enrollment=enrollment,
                                    campaign=pinned.campaign)
    cards: dict[str, ReviewState] = {}
    seen: set[str] = set()
    if delivery.kind in ("quiz", "review") and delivery.content_ref:
        rows = known.cards.get((learner.id or 0, delivery.content_ref), [])
        cards = {row.item_id: ReviewState.from_dict(row.state) for row in rows}
        seen = set(cards)
    return compose(campaign=pinned.campaign, step=step, kind=delivery.kind, content_ref=delivery.content_ref,
                   content=pinned.content, channel=channel, recipient=recipient, now=now, cards=cards,
                   seen=seen, occurrence=delivery.occurrence,
                   seed=quiz_seed(delivery.enrollment_id, delivery.step_id, delivery.occurrence))


async def open_prompt(session: AsyncSession, delivery: Delivery, learner: Learner, channel: str,
                       composed: Composed, now: datetime) -> None:
    spec = composed.prompt
    assert spec is not None and delivery.id is not None and learner.id is not None
    session.add(Prompt(delivery_id=delivery.id, learner_id=learner.id, enrollment_id=delivery.enrollment_id,
                       step_id=delivery.step_id, channel=channel, kind=spec.kind, question_ref=spec.question_ref,
                       expectation={**spec.expectation, "queue": spec.queue}, opened_at=now,
                       expires_at=now + spec.expires_in,
                       # A first look in an hour: the tick then computes the exact next check.
                       check_at=min(now + FIRST_PROMPT_CHECK, now + spec.expires_in)))


async def _trainer_task(session: AsyncSession, rt: Runtime, delivery: Delivery, learner: Learner,
                        enrollment: Enrollment, pinned: PinnedCampaign, now: datetime, known: Known) -> str:
    """A task for the trainer lands on the dashboard as an alert of kind 'task'."""
    composed = await _compose(session, rt, delivery, learner, enrollment, pinned, "dashboard", now, known)
    text = composed.body if isinstance(composed, Composed) else (delivery.content_ref or "")
    session.add(Alert(learner_id=learner.id or 0, enrollment_id=enrollment.id, session_id=enrollment.session_id,
                      kind="task", reason=text, created_at=now))
    await set_status(session, delivery, DeliveryStatus.DELIVERED, now=now, channel="dashboard", sent_at=now,
               finished_at=now, rendered={"body": text}, status_reason="task on the trainer dashboard")
    return "task"
