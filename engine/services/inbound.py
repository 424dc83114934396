"""Processing one stored inbound event: load the learner's conversation, ask the engine, apply.

The webhook stored the raw event and acknowledged it; this job does the rest in
one transaction, with the learner's row locked so that a reply and a scheduled
send for the same learner never interleave. At volume one transaction takes a
batch: the job's own event and other waiting ones (one per learner), loaded
together (:mod:`engine.services.inbound_batch`) and written in one flush. The
decisions are the engine's (:func:`engine.core.flow.on_reply`); this module only
loads what it needs and applies the events it returns
(:mod:`engine.services.inbound_events`). Messages back are delivery rows sent
after commit. An event is processed once: a transaction processes only the events
its compare-and-set moved from ``received`` (on PostgreSQL they are also locked
first), so a redelivered job, or one whose event another batch took, finds it no
longer ``received`` and stops.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
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
from engine.services.inbound_batch import LoadedReplies, load_replies
from engine.services.inbound_events import Applying, apply_events
from engine.services.runtime import Runtime
from engine.services.texts import faq_entries
from engine.services.waiting import resume_waiting
from engine.store.base import InboundStatus, PromptStatus
from engine.store.models import Enrollment, InboundEvent, Learner, Prompt
from engine.store.queries import find_learner_by_phone, find_learners_by_phone

#: Replies processed in one transaction: the job's own event and other waiting ones.
BATCH_SIZE = 50
#: Other events join a batch while this fresh; older ones (a reply that keeps failing,
#: say) are left to their own job and the sweep, so one bad event does not fail every
#: batch for long. A backlog of replies is far younger than this.
FRESH = timedelta(minutes=10)

log = logging.getLogger("ancrage.inbound")

Batch = list[tuple[InboundEvent, Learner | None]]


#: What a job did with its event when another job's batch holds it (and will process it).
IN_ANOTHER_BATCH = "in another batch"


async def process_inbound(rt: Runtime, event_id: int, *, batch_size: int = BATCH_SIZE) -> str:
    """Processes one stored event; returns what was done with it (for logs and tests).

    See :func:`process_inbound_batch`: other waiting events may be processed with it.
    """
    return (await process_inbound_batch(rt, event_id, batch_size=batch_size))[event_id]


async def process_inbound_batch(rt: Runtime, event_id: int, *, batch_size: int = BATCH_SIZE) -> dict[int, str]:
    """Processes one stored event, and up to ``batch_size - 1`` other waiting ones (one per
    learner) in the same transaction; returns what was done with each, by event id.

    Every event is moved ``received → processed`` by compare-and-set before it is
    processed (PostgreSQL locks it ``FOR UPDATE`` first), so each is processed once
    however many jobs reach it; the learners are locked (on SQLite, the database's
    write lock is held) before anything of theirs is read. An event another
    job's batch holds is left to that batch (:data:`IN_ANOTHER_BATCH`); the batch
    processes on their own, after its commit, the events it held but could not
    take (their learner busy), and every event of a batch that failed.
    """
    if batch_size <= 1:
        return await _process(rt, event_id, 1, [])
    taken: list[int] = []
    deferred: list[int] = []
    try:
        outcomes = await _process(rt, event_id, batch_size, taken, deferred)
    except Exception:
        log.exception("a batch of %d replies failed; processing each on its own", len(taken))
        outcomes = {}
        deferred = [*taken, *deferred]
    for other in sorted(set(deferred)):  # held by the batch, whose own jobs may have passed by
        if other != event_id:
            try:
                outcomes.update(await _process(rt, other, 1, []))
            except Exception:  # left ``received``: the sweep enqueues it again
                log.exception("processing event %s failed", other)
    if event_id not in outcomes:
        outcomes.update(await _process(rt, event_id, 1, []))
    return outcomes


async def _process(rt: Runtime, event_id: int, batch_size: int, taken: list[int],
                   deferred: list[int] | None = None) -> dict[int, str]:
    """One transaction; ``taken`` receives the ids of the events it processes (to retry them if
    it fails), ``deferred`` those it held but left for after its commit."""
    now = rt.now()
    postgres = rt.engine.dialect.name == "postgresql"
    async with rt.sessions() as session, session.begin():
        own = select(InboundEvent).where(col(InboundEvent.id) == event_id)
        if postgres:  # alone, wait for whoever holds it; in a batch, leave it to them
            own = own.with_for_update(skip_locked=batch_size > 1)
        event = (await session.exec(own)).first()
        if event is None:
            return {event_id: IN_ANOTHER_BATCH if await session.get(InboundEvent, event_id) else "missing"}
        if event.status != InboundStatus.RECEIVED:
            return {event_id: "already processed"}
        taken.append(event_id)
        learner = await _sender(session, event)
        if learner is not None and postgres:  # the only lock waited for while holding one
            await session.exec(select(Learner.id).where(Learner.id == learner.id).with_for_update())
        batch: Batch = [(event, learner)]
        if batch_size > 1:
            batch += await _others(session, event, learner, now, batch_size - 1, postgres,
                                   deferred if deferred is not None else [])
        won = await _claim(session, [e for e, _ in batch], now)
        outcomes = {e.id or 0: "already processed" for e, _ in batch if e.id not in won}
        batch = [(e, who) for e, who in batch if e.id in won]
        taken[:] = [e.id or 0 for e, _ in batch]
        loaded = await load_replies(session, {who.id for _, who in batch if who is not None and who.id is not None},
                                    now)
        for e, who in batch:
            outcomes[e.id or 0] = await _process_one(session, rt, e, who, loaded, now)
        # A question held behind one just closed goes out next (one statement when none is held).
        await resume_waiting(session, [learner_id for learner_id, prompts in loaded.prompts.items()
                                       if any(p.status != PromptStatus.OPEN for p in prompts)], now)
        return outcomes


async def _claim(session: AsyncSession, events: list[InboundEvent], now: datetime) -> set[int]:
    """Moves the batch's events ``received → processed`` (compare-and-set); returns those it moved.

    The first write of the transaction, before anything of the learners is read. On PostgreSQL
    the events are already locked and it moves them all. SQLite has no row locks: another job
    may have read the same events (a batch takes waiting events whose own jobs are running);
    this write waits for the database's one writer, then sees what that writer committed (the
    driver begins SQLite's transaction at its first write: the reads before it hold no snapshot), so an
    event is processed only by the transaction that moved it, and everything read after it is
    read under the write lock (no other transaction commits before this one ends).
    """
    values = {"status": InboundStatus.PROCESSED, "processed_at": now}
    result = await session.exec(update(InboundEvent).where(
        col(InboundEvent.id).in_([e.id for e in events]), col(InboundEvent.status) == InboundStatus.RECEIVED,
    ).values(**values).returning(col(InboundEvent.id)).execution_options(synchronize_session=False))
    won = set(result.scalars().all())
    for event in events:
        if event.id in won:  # as saved: no second UPDATE of these at flush
            for key, value in values.items():
                set_committed_value(event, key, value)
    return won


async def _others(session: AsyncSession, event: InboundEvent, learner: Learner | None, now: datetime,
                  limit: int, postgres: bool, deferred: list[int]) -> Batch:
    """Other fresh events no other job holds, the earliest of each learner whose learner is free.

    The events are taken ``SKIP LOCKED`` (concurrent jobs share the waiting events out), then
    their learners ``SKIP LOCKED``: nothing is waited for while they are held. An event held
    but not processed here (its learner busy, or a second one of a learner) goes to
    ``deferred``: the job processes it on its own after this commit.
    """
    statement = select(InboundEvent).where(
        col(InboundEvent.status) == InboundStatus.RECEIVED, col(InboundEvent.id) != event.id,
        col(InboundEvent.received_at) > now - FRESH).order_by(col(InboundEvent.id)).limit(limit)
    events = list((await session.exec(statement.with_for_update(skip_locked=True) if postgres else statement)).all())
    phones = {e.sender.removeprefix("whatsapp:") for e in events if not e.sender.startswith("learner:")}
    found = await find_learners_by_phone(session, phones=phones)
    taken = {learner.id} if learner is not None else set()
    candidates: Batch = []
    for other in events:
        who = None if other.sender.startswith("learner:") else found.get(other.sender.removeprefix("whatsapp:"))
        if other.sender.startswith("learner:") or (who is not None and who.id in taken):
            deferred.append(other.id or 0)  # an app answer, or a learner's next message: after this one
            continue
        if who is not None:
            taken.add(who.id)
        candidates.append((other, who))
    wanted = sorted(who.id for _, who in candidates if who is not None and who.id is not None)
    if not postgres or not wanted:
        return candidates
    locked = set((await session.exec(select(Learner.id).where(col(Learner.id).in_(wanted))
                                     .order_by(col(Learner.id)).with_for_update(skip_locked=True))).all())
    deferred += [e.id or 0 for e, who in candidates if who is not None and who.id not in locked]
    return [(e, who) for e, who in candidates if who is None or who.id in locked]


async def _process_one(session: AsyncSession, rt: Runtime, event: InboundEvent, learner: Learner | None,
                       loaded: LoadedReplies, now: datetime) -> str:
    if learner is None:
        event.status = InboundStatus.IGNORED
        event.error = "unknown sender"
        event.processed_at = now
        session.add(event)
        return "unknown sender"
    event.learner_id = learner.id
    outcome = await _handle(session, rt, event, learner, loaded, now)
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


async def _handle(session: AsyncSession, rt: Runtime, event: InboundEvent, learner: Learner,
                  loaded: LoadedReplies, now: datetime) -> str:
    learner_id = learner.id or 0
    enrollment = loaded.latest_enrollment(learner_id)
    prompts = await _open_prompts(session, event, learner, loaded, now)
    pinned: dict[int, PinnedCampaign] = {}
    for enrollment_id in {p.enrollment_id for p in prompts} | ({enrollment.id} if enrollment and enrollment.id else set()):
        row = enrollment if enrollment is not None and enrollment.id == enrollment_id \
            else await session.get(Enrollment, enrollment_id)
        if row is not None:
            pinned[enrollment_id] = await load_pinned(session, row.campaign_version_id)
    state = (await _state(session, learner, enrollment, prompts, event.channel, loaded, now)).model_copy(
        update={"ticket_response_hours": rt.settings.ticket_response_hours})
    versions = {key: Version(value.campaign, value.content) for key, value in pinned.items()}
    reply = IncomingReply(event.body, event.channel, event.id or 0,
                          keywords=event.provider in ("twilio", "sandbox"))
    faq = faq_entries(rt.settings.content_dir)
    resumed = on_reply(state, versions, reply, now=now, faq=faq)
    applying = Applying(session=session, rt=rt, event=event, learner=learner, now=now,
                        enrollment=enrollment, prompts={p.id or 0: p for p in prompts}, pinned=pinned,
                        question=resumed.question, cards=loaded.cards_of(learner_id))
    await apply_events(applying, resumed.events)
    return resumed.outcome


async def _open_prompts(session: AsyncSession, event: InboundEvent, learner: Learner, loaded: LoadedReplies,
                        now: datetime) -> list[Prompt]:
    """The questions this message may answer, latest first: the one its answer link names, or
    every open question on its channel."""
    prompt_id = (event.raw or {}).get("prompt_id")
    if prompt_id is not None:
        prompt = await session.get(Prompt, int(prompt_id))
        if prompt is not None and prompt.learner_id == learner.id and prompt.status == PromptStatus.OPEN \
                and prompt.expires_at > now:
            return [prompt]
        return []
    return loaded.open_prompts(learner.id or 0, event.channel)


def open_question(prompt: Prompt) -> OpenQuestion:
    """A stored prompt as the engine sees it."""
    expectation: dict[str, Any] = prompt.expectation or {}
    return OpenQuestion(prompt_id=prompt.id or 0, enrollment_id=prompt.enrollment_id, step_id=prompt.step_id,
                        kind=prompt.kind, question_ref=prompt.question_ref, channel=prompt.channel,
                        opened_at=prompt.opened_at, expires_at=prompt.expires_at,
                        clarified=prompt.clarification_sent, trail=trail_of(expectation),
                        queue=tuple(expectation.get("queue", [])))


async def _state(session: AsyncSession, learner: Learner, enrollment: Enrollment | None, prompts: list[Prompt],
                 channel: str, loaded: LoadedReplies, now: datetime) -> ConversationState:
    learner_id = learner.id or 0
    grades = loaded.grades.get(learner_id, [])
    cards: dict[str, dict[str, Any]] = {}
    for ref in {p.question_ref for p in prompts if p.kind in ("quiz", "review")}:
        bank_ref, _, item_id = ref.partition("#")
        card = loaded.cards_of(learner_id).get((bank_ref, item_id))
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
                             recent_grades=tuple(grades), cards=cards, recently_closed=closed,
                             enrollment_id=enrollment.id if enrollment else None)


#: An event still unprocessed this long after it arrived lost its job (Redis down at intake, its
#: worker killed). A real duration: a time-warped run keeps it in real seconds.
SWEEP_AFTER = timedelta(seconds=30)


async def sweep_unprocessed(rt: Runtime, *, now: datetime, enqueue: Any, older_than: timedelta | None = None) -> int:
    """Events stored but never processed (Redis was down at intake, or the job's worker died): enqueue them again.

    ``enqueue`` takes the ids and returns how many it queued (``engine.worker.sweep_enqueue``:
    those with no job left in the queue, each under an id of its own). Processing twice is
    harmless (:func:`process_inbound` re-reads the event under the learner's lock).
    """
    async with rt.sessions() as session:
        ids = (await session.exec(select(InboundEvent.id).where(
            InboundEvent.status == InboundStatus.RECEIVED,
            col(InboundEvent.received_at) < now - (older_than or SWEEP_AFTER)).limit(500))).all()
    return int(await enqueue([event_id for event_id in ids if event_id is not None]))
