"""A status callback that beats the send job's own commit of the MessageSid is not lost."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.models import Delivery
from tests.support.seed import Seed
from tests.support.web_support import post_signed


async def test_early_callback_is_matched_by_the_delivery_id(
        client: httpx.AsyncClient, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    enrollment = await seed.enrollment()
    delivery = await seed.delivery(enrollment=enrollment, status="sending", channel="sms",
                                   provider_id=None, sent_at=None)
    other = await seed.delivery(enrollment=enrollment, status="sending", channel="sms",
                                provider_id=None, sent_at=None)
    form = {"MessageSid": "SMearly", "MessageStatus": "delivered", "AccountSid": "AC1"}
    response = await post_signed(client, f"/webhooks/twilio/status?d={delivery.id}", form)
    assert response.status_code == 204
    # A second delivery id cannot take a MessageSid that is already known.
    response = await post_signed(client, f"/webhooks/twilio/status?d={other.id}", form)
    assert response.status_code == 204
    async with session_maker() as session:
        stored = await session.get(Delivery, delivery.id)
        untouched = await session.get(Delivery, other.id)
    assert stored is not None and untouched is not None
    assert (stored.status, stored.provider_id) == ("delivered", "SMearly")
    assert stored.sent_at is not None and stored.finished_at is not None
    assert (untouched.status, untouched.provider_id) == ("sending", None)


async def test_callback_for_an_unknown_delivery_is_acknowledged_and_ignored(
        client: httpx.AsyncClient, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    enrollment = await seed.enrollment()
    sent = await seed.delivery(enrollment=enrollment, status="sent", channel="sms", provider_id="SMknown")
    form = {"MessageSid": "SMnobody", "MessageStatus": "delivered", "AccountSid": "AC1"}
    for d in (sent.id, 2**40):
        response = await post_signed(client, f"/webhooks/twilio/status?d={d}", form)
        assert response.status_code in (204, 422)
    async with session_maker() as session:
        stored = await session.get(Delivery, sent.id)
    assert stored is not None and (stored.status, stored.provider_id) == ("sent", "SMknown")
