"""Processing one stored inbound event: load the learner's conversation, ask the engine, apply.

The webhook stored the raw event and acknowledged it; this job does the rest in
one transaction per event, with the learner's row locked so that a reply and a
scheduled send for the same learner never interleave. The decisions are the
engine's (:func:`engine.core.flow.on_reply`); this module only loads what it needs
and applies the events it returns (:mod:`engine.services.inbound_events`). Messages
back are delivery rows sent by the next tick, after commit. An event is processed
once: a redelivered job finds it no longer ``received`` and stops.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.flow import (
    ClosedQuestion,
    ConversationState,
    IncomingReply,
    OpenQuestion,
    Version,
    on_reply,
    trail_of,
)
from engine.core.rules import LATE_REPLY_WINDOW
from engine.services.catalog import PinnedCampaign, load_pinned
from engine.services.inbound_events import Applying, apply_events
from engine.services.runtime import Runtime
from engine.services.texts import faq_entries
from engine.store.base import EnrollmentStatus, InboundStatus, PromptStatus
from engine.store.models import Enrollment, InboundEvent, Learner, Prompt, Reply, ReviewCard
from engine.store.queries import find_learner_by_phone


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
            # Read again under the learner's lock: a second job for the same event (swept again
            # while the first one's worker died, or simply running alongside) waited here for the
            # first to commit, and must not process it twice.
            await session.refresh(event, with_for_update=True)
            if event.status != InboundStatus.RECEIVED:
                return "already processed"
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


async def _handle(session: AsyncSession, rt: Runtime, event: InboundEvent, learner: Learner, now: datetime) -> str:
    enrollment = await _latest_enrollment(session, learner)
    prompts = await _open_prompts(session, event, learner, now)
    pinned: dict[int, PinnedCampaign] = {}
    for enrollment_id in {p.enrollment_id for p in prompts} | ({enrollment.id} if enrollment and enrollment.id else set()):
        row = enrollment if enrollment is not None and enrollment.id == enrollment_id \
            else await session.get(Enrollment, enrollment_id)
        if row is not None:
            pinned[enrollment_id] = await load_pinned(session, row.campaign_version_id)
    state = (await _state(session, learner, enrollment, prompts, event.channel, now)).model_copy(
        update={"ticket_response_hours": rt.settings.ticket_response_hours})
    versions = {key: Version(value.campaign, value.content) for key, value in pinned.items()}
    reply = IncomingReply(event.body, event.channel, event.id or 0,
                          keywords=event.provider in ("twilio", "sandbox"))
    faq = faq_entries(rt.settings.content_dir)
    resumed = on_reply(state, versions, reply, now=now, faq=faq)
    applying = Applying(session=session, rt=rt, event=event, learner=learner, now=now,
                        enrollment=enrollment, prompts={p.id or 0: p for p in prompts}, pinned=pinned,
                        question=resumed.question)
    await apply_events(applying, resumed.events)
    return resumed.outcome


async def _latest_enrollment(session: AsyncSession, learner: Learner) -> Enrollment | None:
    return (await session.exec(select(Enrollment).where(Enrollment.learner_id == learner.id)
                                .order_by(col(Enrollment.status) != EnrollmentStatus.ACTIVE,
                                          col(Enrollment.created_at).desc()))).first()


async def _open_prompts(session: AsyncSession, event: InboundEvent, learner: Learner, now: datetime) -> list[Prompt]:
    """The questions this message may answer, latest first: the one its answer link names, or
    every open question on its channel."""
    prompt_id = (event.raw or {}).get("prompt_id")
    if prompt_id is not None:
        prompt = await session.get(Prompt, int(prompt_id))
        if prompt is not None and prompt.learner_id == learner.id and prompt.status == PromptStatus.OPEN \
                and prompt.expires_at > now:
            return [prompt]
        return []
    return list((await session.exec(select(Prompt).where(
        col(Prompt.learner_id) == learner.id, col(Prompt.channel) == event.channel,
        col(Prompt.status) == PromptStatus.OPEN, col(Prompt.opened_at) <= now, col(Prompt.expires_at) > now,
    ).order_by(col(Prompt.opened_at).desc(), col(Prompt.id).desc()))).all())


def open_question(prompt: Prompt) -> OpenQuestion:
    """A stored prompt as the engine sees it."""
    expectation: dict[str, Any] = prompt.expectation or {}
    return OpenQuestion(prompt_id=prompt.id or 0, enrollment_id=prompt.enrollment_id, step_id=prompt.step_id,
                        kind=prompt.kind, question_ref=prompt.question_ref, channel=prompt.channel,
                        opened_at=prompt.opened_at, expires_at=prompt.expires_at,
                        clarified=prompt.clarification_sent, trail=trail_of(expectation),
                        queue=tuple(expectation.get("queue", [])))


async def _state(session: AsyncSession, learner: Learner, enrollment: Enrollment | None, prompts: list[Prompt],
                 channel: str, now: datetime) -> ConversationState:
    grades = (await session.exec(select(Reply.correct).where(
        Reply.learner_id == learner.id, col(Reply.correct).is_not(None)).order_by(col(Reply.id).desc()).limit(8))).all()
    refs = {p.question_ref for p in prompts if p.kind in ("quiz", "review")}
    cards: dict[str, dict[str, Any]] = {}
    for ref in refs:
        bank_ref, _, item_id = ref.partition("#")
        card = (await session.exec(select(ReviewCard).where(
            ReviewCard.learner_id == learner.id, ReviewCard.bank_ref == bank_ref,
            ReviewCard.item_id == item_id))).first()
        if card is not None:
            cards[ref] = dict(card.state)
    anchors: dict[int, datetime] = {}
    for enrollment_id in {p.enrollment_id for p in prompts}:
        row = await session.get(Enrollment, enrollment_id)
        if row is not None:
            anchors[enrollment_id] = row.anchor_at
    closed = None
    if not prompts:
        recent = (await session.exec(select(Prompt).where(
            Prompt.learner_id == learner.id, Prompt.channel == channel,
            col(Prompt.status).in_([PromptStatus.EXPIRED, PromptStatus.SUPERSEDED]),
            col(Prompt.expires_at) > now - LATE_REPLY_WINDOW).order_by(col(Prompt.opened_at).desc()))).first()
        if recent is not None:
            closed = ClosedQuestion(prompt_id=recent.id or 0, question_ref=recent.question_ref)
    return ConversationState(locale=learner.locale, timezone=learner.timezone, anchors=anchors,
                             open_questions=tuple(open_question(p) for p in prompts),
                             recent_grades=tuple(bool(g) for g in grades), cards=cards, recently_closed=closed,
                             enrollment_id=enrollment.id if enrollment else None)


async def sweep_unprocessed(rt: Runtime, *, now: datetime, enqueue: Any, older_than: timedelta = timedelta(seconds=30)) -> int:
    """Events stored but never processed (Redis was down at intake, or the job's worker died): enqueue them again.

    ``enqueue`` must give each sweep's job an id of its own: a job whose worker was
    killed keeps its id (and arq's in-progress mark) for the whole job timeout, and
    a re-enqueue under that id would be refused until then. Processing twice is
    harmless (:func:`process_inbound` re-reads the event under the learner's lock).
    """
    async with rt.sessions() as session:
        ids = (await session.exec(select(InboundEvent.id).where(
            InboundEvent.status == InboundStatus.RECEIVED,
            col(InboundEvent.received_at) < now - older_than).limit(500))).all()
    for event_id in ids:
        if event_id is not None:
            await enqueue(event_id)
    return len(ids)
