"""Look-ups used when a learner's message comes in: which learner, which open
question, and opting out and back in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store import (
    AuditEvent,
    Learner,
    find_learner_by_phone,
    open_prompt_for,
    record_opt_in,
    record_opt_out,
)
from tests.support.seed import T0, Seed


async def test_open_prompt_is_the_latest_open_unexpired_one_on_that_channel(
    session: AsyncSession, seed: Seed
) -> None:
    learner = await seed.learner()
    other = await seed.learner()
    enrollment = await seed.enrollment(learner=learner)
    delivery = await seed.delivery(enrollment=enrollment)
    other_delivery = await seed.delivery(enrollment=await seed.enrollment(learner=other))
    now = T0 + timedelta(days=2)

    older = await seed.prompt(delivery=delivery, opened_at=T0)
    latest = await seed.prompt(delivery=delivery, opened_at=T0 + timedelta(hours=5))
    await seed.prompt(delivery=delivery, opened_at=T0 + timedelta(hours=6), status="answered")
    await seed.prompt(
        delivery=delivery,
        opened_at=T0 + timedelta(hours=7),
        expires_at=now,  # expires exactly now: too late
    )
    await seed.prompt(delivery=delivery, opened_at=T0 + timedelta(hours=8), channel="whatsapp")
    await seed.prompt(delivery=delivery, opened_at=T0 + timedelta(days=10))  # not yet sent
    await seed.prompt(delivery=other_delivery, opened_at=T0 + timedelta(hours=9))

    found = await open_prompt_for(session, learner_id=learner.id or 0, channel="sms", now=now)
    assert found is not None and found.id == latest.id

    later = T0 + timedelta(days=3, hours=6)  # latest (and older) have expired
    assert (
        await open_prompt_for(session, learner_id=learner.id or 0, channel="sms", now=later) is None
    )
    assert older.expires_at < later
    whatsapp = await open_prompt_for(
        session, learner_id=learner.id or 0, channel="whatsapp", now=now
    )
    assert whatsapp is not None and whatsapp.channel == "whatsapp"
    assert (
        await open_prompt_for(session, learner_id=learner.id or 0, channel="push", now=now) is None
    )


async def test_find_learner_by_phone_ignores_erased_learners(
    session: AsyncSession, seed: Seed
) -> None:
    kept = await seed.learner(phone="+33611111111")
    await seed.learner(phone="+33622222222", erased_at=T0)

    found = await find_learner_by_phone(session, phone="+33611111111")
    assert found is not None and found.id == kept.id
    assert await find_learner_by_phone(session, phone="+33622222222") is None
    assert await find_learner_by_phone(session, phone="+33699999999") is None


async def test_opt_out_then_in_keeps_the_first_stop_and_audits(
    session: AsyncSession, seed: Seed
) -> None:
    learner = await seed.learner(consent_sms=False)
    learner_id = learner.id or 0

    assert await record_opt_out(session, learner_id=learner_id, channel="sms", at=T0)
    assert not await record_opt_out(
        session, learner_id=learner_id, channel="sms", at=T0 + timedelta(hours=1)
    )
    await session.commit()
    session.expunge_all()
    loaded = await session.get(Learner, learner_id)
    assert loaded is not None
    assert loaded.opted_out_sms_at == T0
    assert loaded.opted_out_email_at is None

    assert await record_opt_in(
        session, learner_id=learner_id, channel="sms", at=T0 + timedelta(days=1)
    )
    assert not await record_opt_in(session, learner_id=learner_id, channel="sms", at=T0)
    await session.commit()
    session.expunge_all()
    loaded = await session.get(Learner, learner_id)
    assert loaded is not None
    assert loaded.opted_out_sms_at is None
    assert loaded.consent_sms

    trail = await session.exec(
        select(AuditEvent.action, AuditEvent.detail)
        .where(col(AuditEvent.entity) == "learner")
        .order_by(col(AuditEvent.id))
    )
    assert trail.all() == [("opt_out", {"channel": "sms"}), ("opt_in", {"channel": "sms"})]

    with pytest.raises(ValueError, match="unknown channel"):
        await record_opt_out(session, learner_id=learner_id, channel="fax", at=T0)
