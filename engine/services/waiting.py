"""Questions held back behind another one go out once the learner has closed it.

A question due while the learner can still answer another one on that channel is
put back ``planned``, due at that other question's deadline, with
``waits_for_prompt_id`` naming it (:mod:`engine.services.send_checks`). When the
learner answers it (the reply path) or it closes at its deadline (the silence
sweep), :func:`resume_waiting` brings the held questions forward to
:func:`engine.core.questions.resumes_at` (a couple of minutes later, in the step's
send window), unless the learner is still busy on that channel: another question
open there, or the next question of a quiz or survey in progress on its way. Those
stay held: they are looked at again when that one closes, or at their own due time
at the latest (the send path then decides again, so nothing waits forever).

Before, a held question was looked at again every hour until the other one closed:
a claim, a decision and two audit rows an hour, 72 for a silent learner's three-day
question.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.questions import AskedQuestion, resumes_at, waiting_for
from engine.services.catalog import load_pinned
from engine.services.delivery_state import set_status
from engine.store.base import DeliveryOrigin, DeliveryStatus, PromptStatus
from engine.store.models import Delivery, Enrollment, Learner, Prompt

#: The statuses of a message still on its way to the learner.
_ON_ITS_WAY = (DeliveryStatus.PLANNED, DeliveryStatus.QUEUED, DeliveryStatus.SENDING)


async def resume_waiting(session: AsyncSession, learner_ids: Iterable[int | None], now: datetime) -> int:
    """Brings forward these learners' held questions whose channel is free again; returns how many.

    Runs in the caller's transaction, after it closed questions (its changes are
    flushed by the first query). One statement when none of them has a held question.
    """
    ids = sorted({learner_id for learner_id in learner_ids if learner_id})
    if not ids:
        return 0
    held = (await session.exec(
        select(Delivery, Prompt.channel, Enrollment.campaign_version_id, Learner.timezone)
        .join(Enrollment, col(Enrollment.id) == col(Delivery.enrollment_id))
        .join(Learner, col(Learner.id) == col(Delivery.learner_id))
        .outerjoin(Prompt, col(Prompt.id) == col(Delivery.waits_for_prompt_id))
        .where(col(Delivery.learner_id).in_(ids), col(Delivery.status) == DeliveryStatus.PLANNED,
               col(Delivery.waits_for_prompt_id).is_not(None))
        .order_by(col(Delivery.due_at), col(Delivery.id)))).all()
    if not held:
        return 0
    learners = {delivery.learner_id for delivery, *_ in held}
    asked = await _open_questions(session, learners)
    follow_ups = await _follow_ups(session, learners)
    moved = 0
    for delivery, channel, version_id, timezone in held:
        if channel is not None and ((delivery.learner_id, channel) in follow_ups or waiting_for(
                asked.get(delivery.learner_id, []), delivery_id=delivery.id or 0, channel=channel, now=now)):
            continue
        campaign = (await load_pinned(session, version_id)).campaign
        step = campaign.step(delivery.step_id)
        later = resumes_at(now, campaign.window_for(step) if step else campaign.defaults.window, timezone)
        if later >= delivery.due_at:  # due by then anyway (the question closed at its deadline)
            continue
        if await set_status(session, delivery, DeliveryStatus.PLANNED, expect=DeliveryStatus.PLANNED, now=now,
                            due_at=later, waits_for_prompt_id=None,
                            status_reason="the question it waited for is closed: asked next"):
            moved += 1
    return moved


async def _open_questions(session: AsyncSession, learner_ids: set[int]) -> dict[int, list[AskedQuestion]]:
    """These learners' open questions, as :func:`engine.core.questions.waiting_for` reads them."""
    asked: dict[int, list[AskedQuestion]] = {}
    for prompt in (await session.exec(select(Prompt).where(
            col(Prompt.learner_id).in_(learner_ids), col(Prompt.status) == PromptStatus.OPEN))).all():
        asked.setdefault(prompt.learner_id, []).append(
            AskedQuestion(prompt.id or 0, prompt.delivery_id, prompt.channel, prompt.expires_at))
    return asked


async def _follow_ups(session: AsyncSession, learner_ids: set[int]) -> set[tuple[int, str]]:
    """``(learner, channel)`` where the next question of a step in progress is on its way (a
    feedback carrying it): its prompt opens when it is sent."""
    busy: set[tuple[int, str]] = set()
    for delivery in (await session.exec(select(Delivery).where(
            col(Delivery.learner_id).in_(learner_ids), col(Delivery.status).in_(_ON_ITS_WAY),
            col(Delivery.kind) == "text",
            col(Delivery.origin).in_([DeliveryOrigin.FEEDBACK, DeliveryOrigin.SYSTEM])))).all():
        if (delivery.rendered or {}).get("prompt"):
            busy.update((delivery.learner_id, channel) for channel in delivery.channels)
    return busy
