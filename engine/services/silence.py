"""Questions nobody answered: reminders, then the step's silence branch, then expiry.

Runs from the tick. A prompt of a step with ``on_silence`` gets up to ``remind``
reminders, ``after`` apart; when the last one goes unanswered the silence
actions run. Any open prompt past its deadline is closed as ``expired``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from engine.core.branching import extended_deadline, silence_actions, silence_check_at
from engine.services.actions import run_actions
from engine.services.catalog import load_pinned
from engine.services.runtime import Runtime
from engine.store.base import DeliveryOrigin, PromptStatus
from engine.store.models import Delivery, Enrollment, Learner, Prompt

_REMINDER = {"fr": "Petit rappel : ", "en": "A quick reminder: "}


async def expire_prompts(rt: Runtime, *, now: datetime, limit: int = 500) -> int:
    """Sends due reminders, runs silence branches and expires overdue questions; returns how many changed.

    Only prompts whose ``check_at`` (else ``expires_at``) has come are read, oldest check
    first, so the tick's cost follows what is due, not how many questions are open.
    """
    changed = 0
    due_at = func.coalesce(col(Prompt.check_at), col(Prompt.expires_at))
    async with rt.sessions() as session, session.begin():
        query = select(Prompt).where(Prompt.status == PromptStatus.OPEN, due_at <= now).order_by(due_at).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            # Two ticks at once (one per worker, or one outlasting its interval) or a reply being
            # processed hold some of these rows: skip them (the next tick sees them) instead of
            # waiting, which deadlocked ticks and made them skip the rest of their work.
            query = query.with_for_update(skip_locked=True, of=Prompt)
        prompts = (await session.exec(query)).all()
        for prompt in prompts:
            enrollment = await session.get(Enrollment, prompt.enrollment_id)
            learner = await session.get(Learner, prompt.learner_id)
            if enrollment is None or learner is None:
                prompt.status = PromptStatus.EXPIRED
                session.add(prompt)
                continue
            pinned = await load_pinned(session, enrollment.campaign_version_id)
            step = pinned.campaign.step(prompt.step_id)
            rule = step.on_silence if step is not None else None
            if rule is not None and step is not None:
                due = silence_check_at(prompt.opened_at, rule.after, prompt.reminders_sent + 1, learner.timezone)
                if due <= now:
                    if prompt.reminders_sent < rule.remind:
                        await _remind(session, prompt, learner, pinned.campaign.locale, now)
                        # From now: a reminder sent late (the worker was down) is still followed
                        # by a full ``after`` before the next check.
                        due = silence_check_at(now, rule.after, 1, learner.timezone)
                        prompt.check_at = min(due, prompt.expires_at)
                    else:
                        prompt.status = PromptStatus.EXPIRED
                        await run_actions(session, pinned=pinned, enrollment=enrollment, learner=learner,
                                          step=step, actions=silence_actions(step), at=now,
                                          trigger=(prompt.id or 0) * 10 + 9)
                    session.add(prompt)
                    changed += 1
                    continue
                if prompt.expires_at > now:
                    prompt.check_at = min(due, prompt.expires_at)
                    session.add(prompt)
                    continue
            if prompt.expires_at <= now:
                prompt.status = PromptStatus.EXPIRED
                changed += 1
            else:
                prompt.check_at = prompt.expires_at
            session.add(prompt)
    return changed


async def _remind(session: object, prompt: Prompt, learner: Learner, locale: str, now: datetime) -> None:
    """Re-sends the open question as a reminder; the prompt stays open for its full window again."""
    from sqlmodel.ext.asyncio.session import AsyncSession

    assert isinstance(session, AsyncSession)
    original = await session.get(Delivery, prompt.delivery_id)
    body = ((original.rendered or {}).get("body") if original else None) or ""
    prompt.reminders_sent += 1
    prompt.expires_at = extended_deadline(prompt.opened_at, prompt.expires_at, now)
    session.add(Delivery(enrollment_id=prompt.enrollment_id, learner_id=learner.id or 0, step_id=prompt.step_id,
                         occurrence=(prompt.id or 0) * 10 + prompt.reminders_sent, kind="text",
                         recipient="learner", channels=[prompt.channel], due_at=now,
                         rendered={"body": _REMINDER.get(locale, _REMINDER["fr"]) + body},
                         origin=DeliveryOrigin.REMINDER))
