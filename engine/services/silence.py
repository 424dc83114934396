"""Questions nobody answered: reminders, then the step's silence branch, then expiry.

Runs from the tick. A prompt of a step with ``on_silence`` gets up to ``remind``
reminders, ``after`` apart; when the last one goes unanswered the silence
actions run. Any open prompt past its deadline is closed as ``expired``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core import events as ev
from engine.core.branching import extended_deadline, silence_actions
from engine.core.silence import UnansweredQuestion, on_silence
from engine.services.actions import run_actions
from engine.services.catalog import PinnedCampaign, load_pinned
from engine.services.runtime import Runtime
from engine.services.waiting import resume_waiting
from engine.store.base import DeliveryOrigin, DeliveryStatus, PromptStatus
from engine.store.models import Delivery, Enrollment, Learner, Prompt

_REMINDER = {"fr": "Petit rappel : ", "en": "A quick reminder: "}


async def expire_prompts(rt: Runtime, *, now: datetime, limit: int = 500) -> int:
    """Sends due reminders, runs silence branches and expires overdue questions; returns how many changed.

    Only prompts whose ``check_at`` (else ``expires_at``) has come are read, oldest check
    first, so the tick's cost follows what is due, not how many questions are open. The
    decision is the engine's (:func:`engine.core.silence.on_silence`); this applies it.
    """
    due_at = func.coalesce(col(Prompt.check_at), col(Prompt.expires_at))
    due = select(Prompt.learner_id).where(Prompt.status == PromptStatus.OPEN, due_at <= now)
    async with rt.sessions() as session:
        learner_ids = list(dict.fromkeys((await session.exec(due.order_by(due_at).limit(limit))).all()))
    changed = 0
    # A few learners per transaction: their locks are held for the work on their prompts only,
    # not for the whole sweep (a send wave or a reply waiting on one of them waits that long).
    for start in range(0, len(learner_ids), EXPIRY_CHUNK):
        changed += await _expire_for(rt, learner_ids[start:start + EXPIRY_CHUNK], now)
    return changed


#: Learners whose due questions are handled in one transaction.
EXPIRY_CHUNK = 20


async def _expire_for(rt: Runtime, learner_ids: list[int], now: datetime) -> int:
    changed = 0
    due_at = func.coalesce(col(Prompt.check_at), col(Prompt.expires_at))
    async with rt.sessions() as session, session.begin():
        free: Any = learner_ids
        query = select(Prompt).where(Prompt.status == PromptStatus.OPEN, due_at <= now)
        if session.get_bind().dialect.name == "postgresql":
            # Learners first, as a reply (learner, then its prompt) and a send wave do: a reminder's
            # INSERT needs a key-share lock on its learner, so holding the prompt while a reply held
            # the learner and wanted the prompt was a deadlock, rolling back every expiry of the tick.
            # Locked rows (another tick, a reply being processed) are skipped: the next tick sees them.
            free = (await session.exec(select(Learner.id).where(col(Learner.id).in_(learner_ids))
                                       .order_by(col(Learner.id)).with_for_update(skip_locked=True))).all()
            query = query.with_for_update(skip_locked=True, of=Prompt)
        prompts = (await session.exec(query.where(col(Prompt.learner_id).in_(free)).order_by(due_at))).all()
        for prompt in prompts:
            enrollment = await session.get(Enrollment, prompt.enrollment_id)
            learner = await session.get(Learner, prompt.learner_id)
            if enrollment is None or learner is None:
                prompt.status = PromptStatus.EXPIRED
                session.add(prompt)
                continue
            pinned = await load_pinned(session, enrollment.campaign_version_id)
            step = pinned.campaign.step(prompt.step_id)
            question = UnansweredQuestion(prompt.id or 0, prompt.channel, prompt.opened_at, prompt.expires_at,
                                          prompt.reminders_sent)
            checked = on_silence(question, step, now=now, tz=learner.timezone)
            applying = _Silence(session, prompt, learner, enrollment, pinned, now)
            for event in checked.events:
                await _HANDLERS[type(event)](applying, event)
            if checked.events:
                changed += 1
            if prompt.status == PromptStatus.OPEN:
                prompt.check_at = checked.check_at
            session.add(prompt)
        await resume_waiting(session, [p.learner_id for p in prompts if p.status != PromptStatus.OPEN], now)
    return changed


@dataclass
class _Silence:
    session: AsyncSession
    prompt: Prompt
    learner: Learner
    enrollment: Enrollment
    pinned: PinnedCampaign
    now: datetime


async def _reminder_sent(a: _Silence, e: ev.ReminderSent) -> None:
    await _remind(a.session, a.prompt, a.learner, a.pinned.campaign.locale, a.now)


async def _question_expired(a: _Silence, e: ev.QuestionExpired) -> None:
    a.prompt.status = PromptStatus.EXPIRED


async def _silence_branch(a: _Silence, e: ev.BranchTaken) -> None:
    step = a.pinned.campaign.step(e.step_id)
    if step is not None:
        await run_actions(a.session, pinned=a.pinned, enrollment=a.enrollment, learner=a.learner, step=step,
                          actions=silence_actions(step), at=a.now, trigger=e.trigger)


_HANDLERS: dict[type[Any], Callable[[_Silence, Any], Awaitable[None]]] = {
    ev.ReminderSent: _reminder_sent,
    ev.QuestionExpired: _question_expired,
    ev.BranchTaken: _silence_branch,
}


async def _remind(session: object, prompt: Prompt, learner: Learner, locale: str, now: datetime) -> None:
    """Re-sends the open question as a reminder; the prompt stays open for its full window again."""
    from sqlmodel.ext.asyncio.session import AsyncSession

    assert isinstance(session, AsyncSession)
    original = await session.get(Delivery, prompt.delivery_id)
    body = ((original.rendered or {}).get("body") if original else None) or ""
    prompt.reminders_sent += 1
    prompt.expires_at = extended_deadline(prompt.opened_at, prompt.expires_at, now)
    # Once per (prompt, reminder number): a second tick that read the prompt before the first
    # committed (SQLite has no row locks) inserts nothing instead of failing its whole pass.
    table = Delivery.__table__  # type: ignore[attr-defined]
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.exec(dialect_insert(table).values(  # type: ignore[call-overload]
        enrollment_id=prompt.enrollment_id, learner_id=learner.id or 0, step_id=prompt.step_id,
        occurrence=(prompt.id or 0) * 10 + prompt.reminders_sent, kind="text", recipient="learner",
        channels=[prompt.channel], due_at=now, rendered={"body": _REMINDER.get(locale, _REMINDER["fr"]) + body},
        origin=DeliveryOrigin.REMINDER, status=DeliveryStatus.PLANNED, attempts=0, created_at=now, updated_at=now,
    ).on_conflict_do_nothing())
