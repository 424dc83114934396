"""Marking deliveries ``sending`` just before their provider calls, a wave at a time.

A delivery in ``sending`` is one whose provider call may have happened: after
a crash, recovery must ask the provider before sending it again. The send job
marks each wave of calls just before making them (``dispatch._send_waves``),
which keeps that set to the calls under way; a wave is one transaction, so a
burst still costs one round of writes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.questions import WAIT_STEP, AskedQuestion, waiting_for
from engine.services.delivery_state import attempt_record, set_many, set_status
from engine.services.runtime import Runtime
from engine.services.send_checks import Outgoing, must_wait_for_open_questions, open_prompt
from engine.store.base import DeliveryStatus, PromptStatus
from engine.store.models import Learner, Prompt

#: A question held back because another one was opened meanwhile is looked at again then,
#: unless that one closes first (engine.services.waiting).
CONVERSATION_RECHECK = WAIT_STEP


async def mark_wave(rt: Runtime, items: list[Outgoing], counts: dict[str, int]) -> set[int]:
    """``queued → sending`` for these deliveries at once, recording the attempt; opens their prompts.

    The learners are locked (in id order) and a question is held back when
    another one was opened for the same learner since this one was decided.
    Returns the ``id()`` of the items that moved.
    """
    now = rt.now()
    async with rt.sessions() as session, session.begin():
        learner_ids = sorted({item.learner.id or 0 for item in items})
        if rt.engine.dialect.name == "postgresql":
            await session.exec(select(Learner.id).where(col(Learner.id).in_(learner_ids))
                               .order_by(col(Learner.id)).with_for_update())
        asking = [item for item in items if item.composed is not None and item.composed.prompt is not None]
        waiting = [item for item in asking if must_wait_for_open_questions(item.delivery)]
        held = await _asked_meanwhile(session, waiting, now) if waiting else {}
        ready = [item for item in items if id(item) not in held]
        for item in items:
            if id(item) in held:
                await set_status(session, item.delivery, DeliveryStatus.PLANNED, now=now,
                                 due_at=now + CONVERSATION_RECHECK, waits_for_prompt_id=held[id(item)],
                                 status_reason="learner is answering another question: asked later")
                _relabel(counts, "sending", "deferred")
        moved_deliveries = await set_many(
            session, [(item.delivery, {"channel": item.channel, "attempts": item.delivery.attempts + 1,
                                       "rendered": {**(item.rendered or {}), "attempt": attempt_record(item.message.to, now)}})
                      for item in ready],
            DeliveryStatus.SENDING, now=now, expect=DeliveryStatus.QUEUED, claimed_at=now)
        moved = {id(delivery) for delivery in moved_deliveries}
        # A question asked again (recovered, retried) replaces its own earlier prompt.
        again = [item.delivery.id for item in asking if id(item.delivery) in moved and item.delivery.attempts > 1]
        if again:
            await session.exec(update(Prompt).where(
                col(Prompt.delivery_id).in_(again), col(Prompt.status) == PromptStatus.OPEN,
            ).values(status=PromptStatus.SUPERSEDED))
        marked: set[int] = set()
        for item in ready:
            if id(item.delivery) not in moved:
                _relabel(counts, "sending", "lost-race")
                continue
            item.marked = True
            marked.add(id(item))
            if item.composed is not None and item.composed.prompt is not None:
                await open_prompt(session, item.delivery, item.learner, item.channel, item.composed, now)
    return marked


async def _asked_meanwhile(session: AsyncSession, items: list[Outgoing], now: datetime) -> dict[int, int]:
    """The items whose learner got another question opened on their channel since they were
    decided (the rule is :func:`engine.core.questions.waiting_for`, as at decision time),
    with the prompt each waits for."""
    rows = (await session.exec(select(Prompt).where(
        col(Prompt.learner_id).in_({item.learner.id for item in items}),
        col(Prompt.status) == PromptStatus.OPEN, col(Prompt.expires_at) > now))).all()
    asked: dict[int, list[AskedQuestion]] = {}
    for prompt in rows:
        asked.setdefault(prompt.learner_id, []).append(
            AskedQuestion(prompt.id or 0, prompt.delivery_id, prompt.channel, prompt.expires_at))
    held: dict[int, int] = {}
    for item in items:
        blocking = waiting_for(asked.get(item.learner.id or 0, []), delivery_id=item.delivery.id or 0,
                               channel=item.channel, now=now)
        if blocking is not None:
            held[id(item)] = blocking.prompt_id
    return held


def _relabel(counts: dict[str, int], old: str, new: str) -> None:
    counts[old] = counts.get(old, 0) - 1
    if counts[old] <= 0:
        del counts[old]
    counts[new] = counts.get(new, 0) + 1
