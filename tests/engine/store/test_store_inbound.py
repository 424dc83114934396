"""Inbound events are stored once per provider message id, even when the
provider redelivers the webhook several times at once."""

from __future__ import annotations

import asyncio

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store import InboundEvent, create_engine, session_factory, store_inbound_event
from tests.support.seed import T0

PAYLOAD = {"From": "+33612345678", "To": "+33700000000", "Body": "B", "MessageSid": "SM1"}


async def _store(session: AsyncSession, provider_id: str = "SM1") -> tuple[InboundEvent, bool]:
    return await store_inbound_event(
        session,
        provider="twilio",
        provider_id=provider_id,
        channel="sms",
        sender="+33612345678",
        recipient="+33700000000",
        body="B",
        raw=PAYLOAD,
        received_at=T0,
    )


async def test_second_copy_is_reported_as_duplicate(session: AsyncSession) -> None:
    first, created = await _store(session)
    await session.commit()
    second, created_again = await _store(session)
    await session.commit()

    assert created and not created_again
    assert second.id == first.id
    assert (second.status, second.body, second.raw, second.received_at) == (
        "received",
        "B",
        PAYLOAD,
        T0,
    )
    other, other_created = await _store(session, provider_id="SM2")
    assert other_created and other.id != first.id


async def test_concurrent_redeliveries_store_one_row(store_url: str) -> None:
    async def webhook_process() -> tuple[int | None, bool]:
        engine = create_engine(store_url)
        try:
            async with session_factory(engine)() as session:
                event, created = await _store(session)
                await session.commit()
                return event.id, created
        finally:
            await engine.dispose()

    results = await asyncio.gather(*(webhook_process() for _ in range(3)))

    assert sorted(created for _, created in results) == [False, False, True]
    assert len({event_id for event_id, _ in results}) == 1
    engine = create_engine(store_url)
    try:
        async with session_factory(engine)() as session:
            count = (await session.exec(select(func.count()).select_from(InboundEvent))).one()
    finally:
        await engine.dispose()
    assert count == 1
