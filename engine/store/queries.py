"""Look-ups and small writes used when a learner's message comes in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.audit import record_audit
from engine.store.base import Channel, PromptStatus
from engine.store.models_campaigns import Enrollment
from engine.store.models_messages import Prompt
from engine.store.models_people import Learner


async def open_prompt_for(
    session: AsyncSession, *, learner_id: int, channel: str, now: datetime
) -> Prompt | None:
    """The question a reply on ``channel`` answers: the learner's latest open one.

    Expiry is checked against ``now`` here, not only by a sweeper, so a reply
    after the deadline never lands on a stale question.
    """
    statement = (
        select(Prompt)
        .where(
            col(Prompt.learner_id) == learner_id,
            col(Prompt.channel) == channel,
            col(Prompt.status) == PromptStatus.OPEN,
            col(Prompt.opened_at) <= now,
            col(Prompt.expires_at) > now,
        )
        .order_by(col(Prompt.opened_at).desc(), col(Prompt.id).desc())
        .limit(1)
    )
    return (await session.exec(statement)).first()


async def find_learner_by_phone(
    session: AsyncSession, *, phone: str, channel: str | None = None
) -> Learner | None:
    """The learner an inbound SMS/WhatsApp comes from (``phone`` in E.164).

    Erased learners never match. A person followed by two trainers is one
    learner record per trainer, sharing a number: the reply goes to the record
    with an open question on ``channel`` (SMS or WhatsApp when not given), else
    to the one enrolled most recently, else to the newest record.
    """
    return (await find_learners_by_phone(session, phones=[phone], channel=channel)).get(phone)


async def find_learners_by_phone(
    session: AsyncSession, *, phones: Iterable[str], channel: str | None = None
) -> dict[str, Learner]:
    """:func:`find_learner_by_phone` for many numbers in one query (a batch of replies)."""
    wanted = sorted(set(phones))
    if not wanted:
        return {}
    channels = [channel] if channel else [Channel.SMS.value, Channel.WHATSAPP.value]
    asking = exists(select(Prompt.id).where(
        col(Prompt.learner_id) == col(Learner.id), col(Prompt.status) == PromptStatus.OPEN,
        col(Prompt.channel).in_(channels)))
    enrolled = (select(func.max(Enrollment.created_at))
                .where(col(Enrollment.learner_id) == col(Learner.id)).scalar_subquery())
    rank = func.row_number().over(
        partition_by=col(Learner.phone),
        order_by=(case((asking, 0), else_=1), enrolled.desc().nulls_last(), col(Learner.id).desc()))
    ranked = (select(col(Learner.id).label("id"), rank.label("rank"))
              .where(col(Learner.phone).in_(wanted), col(Learner.erased_at).is_(None)).subquery())
    statement = select(Learner).join(ranked, col(Learner.id) == ranked.c.id).where(ranked.c.rank == 1)
    return {learner.phone or "": learner for learner in (await session.exec(statement)).all()}


async def record_opt_out(
    session: AsyncSession, *, learner_id: int, channel: str, at: datetime
) -> bool:
    """Stop all sends to the learner on ``channel`` (STOP); keeps the first opt-out time.

    Returns whether the learner was opted in before.
    """
    return await _change_subscription(session, learner_id=learner_id, channel=channel, at=at,
                                      opt_out=True)


async def record_opt_in(
    session: AsyncSession, *, learner_id: int, channel: str, at: datetime
) -> bool:
    """Resume sends on ``channel`` (START): the learner's own request is consent.

    Returns whether the learner was opted out before.
    """
    return await _change_subscription(session, learner_id=learner_id, channel=channel, at=at,
                                      opt_out=False)


async def _change_subscription(
    session: AsyncSession, *, learner_id: int, channel: str, at: datetime, opt_out: bool
) -> bool:
    """One compare-and-set on the channel's opt-out column, audited when it changed."""
    column = _opt_out_column(channel)
    values: dict[Any, Any]
    if opt_out:
        guard, values = column.is_(None), {column: at}
    else:
        guard, values = column.is_not(None), {column: None, f"consent_{Channel(channel).value}": True}
    who: Any = col(Learner.id) == learner_id
    if channel in (Channel.SMS.value, Channel.WHATSAPP.value):
        # STOP and START are about a number: every record of that person (one per trainer
        # who follows them) sharing it follows, or another trainer would keep texting it.
        phone = select(Learner.phone).where(col(Learner.id) == learner_id).scalar_subquery()
        who = or_(who, and_(col(Learner.phone) == phone, col(Learner.erased_at).is_(None)))
    statement = (
        update(Learner)
        .where(who, guard)
        .values(values)
        .returning(col(Learner.id))
        .execution_options(synchronize_session="fetch")
    )
    changed_ids = [int(row[0]) for row in (await session.exec(statement)).all()]
    states = ("subscribed", "opted_out") if opt_out else ("opted_out", "subscribed")
    for changed_id in changed_ids:
        await record_audit(
            session,
            entity="learner",
            entity_id=changed_id,
            action="opt_out" if opt_out else "opt_in",
            at=at,
            from_state=states[0],
            to_state=states[1],
            detail={"channel": channel},
        )
    return learner_id in changed_ids


def _opt_out_column(channel: str) -> Any:
    try:
        name = f"opted_out_{Channel(channel).value}_at"
    except ValueError:
        raise ValueError(f"unknown channel {channel!r}") from None
    return Learner.__table__.c[name]  # type: ignore[attr-defined]
