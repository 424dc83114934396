"""Compare-and-set transitions and provider status callbacks arriving in any order."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store import (
    AuditEvent,
    Delivery,
    advance_delivery_status,
    find_stale_sending,
    transition_delivery,
)
from tests.support.seed import T0, Seed


async def _audit_trail(session: AsyncSession, delivery_id: int) -> list[tuple[str | None, ...]]:
    rows = await session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.entity) == "delivery", col(AuditEvent.entity_id) == delivery_id)
        .order_by(col(AuditEvent.id))
    )
    return [(a.action, a.from_state, a.to_state) for a in rows.all()]


async def test_transition_is_compare_and_set_and_audited(session: AsyncSession, seed: Seed) -> None:
    delivery = await seed.delivery(enrollment=await seed.enrollment(), status="queued")
    assert delivery.id is not None

    moved = await transition_delivery(
        session,
        delivery_id=delivery.id,
        from_statuses=["queued", "planned"],
        to_status="sending",
        now=T0,
        attempts=1,
        channel="sms",
    )
    assert moved
    again = await transition_delivery(
        session, delivery_id=delivery.id, from_statuses=["queued"], to_status="sending", now=T0
    )
    assert not again
    await session.commit()
    session.expunge_all()

    loaded = await session.get(Delivery, delivery.id)
    assert loaded is not None
    assert (loaded.status, loaded.attempts, loaded.channel, loaded.updated_at) == (
        "sending",
        1,
        "sms",
        T0,
    )
    assert await _audit_trail(session, delivery.id) == [("transition", "queued", "sending")]


async def test_transition_refuses_unknown_or_protected_fields(
    session: AsyncSession, seed: Seed
) -> None:
    delivery = await seed.delivery(enrollment=await seed.enrollment())
    assert delivery.id is not None
    with pytest.raises(TypeError, match="not settable"):
        await transition_delivery(
            session,
            delivery_id=delivery.id,
            from_statuses=["planned"],
            to_status="skipped",
            colour=1,
        )
    with pytest.raises(ValueError):
        await transition_delivery(
            session, delivery_id=delivery.id, from_statuses=["planned"], to_status="lost"
        )
    assert not await transition_delivery(
        session, delivery_id=10_000, from_statuses=["planned"], to_status="skipped"
    )


async def test_concurrent_transitions_have_exactly_one_winner(
    seed: Seed, session_maker: async_sessionmaker[AsyncSession]
) -> None:
    delivery = await seed.delivery(enrollment=await seed.enrollment(), status="queued")
    assert delivery.id is not None
    delivery_id = delivery.id

    async def attempt(worker: str) -> bool:
        async with session_maker() as session:
            won = await transition_delivery(
                session,
                delivery_id=delivery_id,
                from_statuses=["queued"],
                to_status="sending",
                claimed_by=worker,
            )
            await session.commit()
            return won

    results = await asyncio.gather(*(attempt(f"w{n}") for n in range(5)))
    assert sorted(results) == [False, False, False, False, True]
    async with session_maker() as session:
        assert await _audit_trail(session, delivery_id) == [("transition", "queued", "sending")]


CALLBACKS = ["sent", "delivered", "read"]


@pytest.mark.parametrize("order", list(itertools.permutations(CALLBACKS)))
async def test_status_callbacks_only_move_forward(
    session: AsyncSession, seed: Seed, order: tuple[str, ...]
) -> None:
    delivery = await seed.delivery(
        enrollment=await seed.enrollment(), status="sent", provider_id="SM123"
    )
    for status in order:
        await advance_delivery_status(session, provider_id="SM123", status=status, now=T0)
    await session.commit()
    session.expunge_all()
    loaded = await session.get(Delivery, delivery.id)
    assert loaded is not None
    assert loaded.status == "read"
    assert loaded.finished_at == T0


async def test_failure_after_delivery_is_ignored_and_failure_is_terminal(
    session: AsyncSession, seed: Seed
) -> None:
    enrollment = await seed.enrollment()
    delivered = await seed.delivery(enrollment=enrollment, status="sent", provider_id="SMa")
    failed = await seed.delivery(enrollment=enrollment, status="sent", provider_id="SMb")

    assert await advance_delivery_status(session, provider_id="SMa", status="delivered", now=T0)
    assert not await advance_delivery_status(
        session, provider_id="SMa", status="undelivered", error_code="30003"
    )
    assert await advance_delivery_status(
        session, provider_id="SMb", status="undelivered", error_code="30006", now=T0
    )
    for late in ("sent", "delivered", "read", "failed", "queued"):
        assert not await advance_delivery_status(session, provider_id="SMb", status=late)
    assert not await advance_delivery_status(session, provider_id="SMb", status="bogus")
    assert not await advance_delivery_status(session, provider_id="unknown", status="delivered")
    await session.commit()
    session.expunge_all()

    a = await session.get(Delivery, delivered.id)
    b = await session.get(Delivery, failed.id)
    assert a is not None and b is not None
    assert (a.status, a.error_code) == ("delivered", None)
    assert (b.status, b.status_reason, b.error_code, b.finished_at) == (
        "failed",
        "undelivered",
        "30006",
        T0,
    )
    assert b.id is not None
    assert await _audit_trail(session, b.id) == [("status_callback", "sent", "failed")]


async def test_duplicate_callbacks_are_no_ops(session: AsyncSession, seed: Seed) -> None:
    delivery = await seed.delivery(
        enrollment=await seed.enrollment(), status="sending", provider_id="SMdup"
    )
    assert await advance_delivery_status(session, provider_id="SMdup", status="sent", now=T0)
    assert not await advance_delivery_status(session, provider_id="SMdup", status="sent", now=T0)
    await session.commit()
    session.expunge_all()
    loaded = await session.get(Delivery, delivery.id)
    assert loaded is not None and loaded.status == "sent" and loaded.sent_at == T0


async def test_find_stale_sending(session: AsyncSession, seed: Seed) -> None:
    enrollment = await seed.enrollment()
    stale = await seed.delivery(
        enrollment=enrollment, status="sending", updated_at=T0 - timedelta(minutes=30)
    )
    await seed.delivery(enrollment=enrollment, status="sending", updated_at=T0)
    await seed.delivery(enrollment=enrollment, status="sent", updated_at=T0 - timedelta(hours=1))
    found = await find_stale_sending(session, older_than=T0 - timedelta(minutes=10))
    assert [d.id for d in found] == [stale.id]
