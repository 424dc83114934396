"""Claiming due deliveries: only due rows of active enrolments, and never the
same row twice, however many workers claim at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store import AuditEvent, Delivery, claim_due_deliveries, create_engine, session_factory
from tests.support.seed import T0, Seed


async def test_claims_only_due_planned_rows_of_active_enrollments(
    session: AsyncSession, seed: Seed
) -> None:
    active = await seed.enrollment()
    paused = await seed.enrollment(status="paused")
    due_early = await seed.delivery(enrollment=active, due_at=T0 - timedelta(hours=2))
    due_now = await seed.delivery(enrollment=active, due_at=T0)
    await seed.delivery(enrollment=active, due_at=T0 + timedelta(seconds=1))  # not yet due
    await seed.delivery(enrollment=active, due_at=T0, status="sent")  # already handled
    await seed.delivery(enrollment=paused, due_at=T0)  # enrolment paused

    claimed = await claim_due_deliveries(session, now=T0, limit=10, worker_id="w1")
    await session.commit()

    assert [d.id for d in claimed] == [due_early.id, due_now.id]  # oldest first
    assert {d.status for d in claimed} == {"queued"}
    assert {d.claimed_by for d in claimed} == {"w1"}
    assert {d.claimed_at for d in claimed} == {T0}
    audits = (await session.exec(select(AuditEvent).order_by(col(AuditEvent.entity_id)))).all()
    assert [(a.entity_id, a.from_state, a.to_state) for a in audits] == [
        (due_early.id, "planned", "queued"),
        (due_now.id, "planned", "queued"),
    ]
    assert await claim_due_deliveries(session, now=T0, limit=10, worker_id="w2") == []


async def test_limit_takes_the_most_overdue_first(session: AsyncSession, seed: Seed) -> None:
    enrollment = await seed.enrollment()
    await seed.many_deliveries(enrollment=enrollment, count=5, due_at=T0)  # T0, T0-1s ... T0-4s
    claimed = await claim_due_deliveries(session, now=T0, limit=2, worker_id="w")
    assert [d.occurrence for d in claimed] == [4, 3]
    assert await claim_due_deliveries(session, now=T0, limit=0, worker_id="w") == []


async def test_claimed_objects_already_in_the_session_are_refreshed(
    session: AsyncSession, seed: Seed
) -> None:
    enrollment = await seed.enrollment()
    delivery = await seed.delivery(enrollment=enrollment)
    loaded = await session.get(Delivery, delivery.id)
    assert loaded is not None and loaded.status == "planned"
    await claim_due_deliveries(session, now=T0, limit=1, worker_id="w")
    assert loaded.status == "queued"


async def _claim_until_empty(url: str, worker: str, batch: int) -> list[int]:
    """One worker process: its own engine, claiming batches until nothing is left."""
    engine = create_engine(url)
    maker = session_factory(engine)
    ids: list[int] = []
    try:
        while True:
            async with maker() as session:
                claimed = await claim_due_deliveries(session, now=T0, limit=batch, worker_id=worker)
                await session.commit()
            if not claimed:
                return ids
            ids.extend(d.id for d in claimed if d.id is not None)
            await asyncio.sleep(0)
    finally:
        await engine.dispose()


async def test_concurrent_claimers_never_get_the_same_row(
    store_url: str, seed: Seed, session_maker: async_sessionmaker[AsyncSession]
) -> None:
    enrollment = await seed.enrollment()
    # Messages to the learner's manager: no per-learner hold, every row is claimable at once.
    await seed.many_deliveries(enrollment=enrollment, count=2000, due_at=T0, recipient="manager")

    results = await asyncio.gather(
        *(_claim_until_empty(store_url, f"worker-{n}", batch=37) for n in range(4))
    )

    all_ids = [i for ids in results for i in ids]
    assert len(all_ids) == 2000
    assert len(set(all_ids)) == 2000, "a delivery was claimed twice"
    async with session_maker() as session:
        rows = (await session.exec(select(Delivery.status, Delivery.claimed_by))).all()
        audit_count = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
    assert Counter(status for status, _ in rows) == {"queued": 2000}
    by_worker = Counter(worker for _, worker in rows)
    assert len(by_worker) > 1, "the claimers did not actually overlap"
    for n, ids in enumerate(results):
        assert by_worker[f"worker-{n}"] == len(ids)
    assert audit_count == 2000


async def test_one_large_claim_is_audited_row_by_row(session: AsyncSession, seed: Seed) -> None:
    enrollment = await seed.enrollment()
    await seed.many_deliveries(enrollment=enrollment, count=1500, due_at=T0)
    claimed = await claim_due_deliveries(session, now=T0, limit=5000, worker_id="w")
    await session.commit()
    assert len(claimed) == 1500
    audits = (await session.exec(select(func.count()).select_from(AuditEvent))).one()
    assert audits == 1500


async def test_a_learners_later_message_waits_while_an_earlier_one_is_on_its_way(
    session: AsyncSession, seed: Seed
) -> None:
    """The campaign's order per learner: a send lost with a worker (queued), cut mid-call
    (sending) or retrying after an error (planned, attempts > 0) holds that learner's next
    message; other learners, feedback and messages to managers go on."""
    ana, bob = await seed.enrollment(), await seed.enrollment()
    lost = await seed.delivery(enrollment=ana, due_at=T0 - timedelta(days=1), status="queued")
    nxt = await seed.delivery(enrollment=ana, due_at=T0)
    feedback = await seed.delivery(enrollment=ana, due_at=T0, origin="feedback")
    manager = await seed.delivery(enrollment=ana, due_at=T0, recipient="manager")
    other = await seed.delivery(enrollment=bob, due_at=T0)
    claimed = await claim_due_deliveries(session, now=T0, limit=10, worker_id="w")
    assert {d.id for d in claimed} == {feedback.id, manager.id, other.id}

    # Cut mid-call; then a retry waiting out its backoff (due again after the next message),
    # and that retry on its way again (its due_at, the retry's, now later than the next one's).
    retry_at = T0 + timedelta(minutes=2)
    for status, due_at in (("sending", lost.due_at), ("planned", retry_at), ("queued", retry_at),
                           ("sending", retry_at)):
        await session.exec(update(Delivery).where(col(Delivery.id) == lost.id).values(
            status=status, attempts=1, due_at=due_at))
        await session.commit()
        assert await claim_due_deliveries(session, now=T0, limit=10, worker_id="w") == [], status

    await session.exec(update(Delivery).where(col(Delivery.id) == lost.id).values(status="sent"))
    await session.commit()
    assert [d.id for d in await claim_due_deliveries(session, now=T0, limit=10, worker_id="w")] == [nxt.id]


async def test_messages_due_together_are_claimed_together(session: AsyncSession, seed: Seed) -> None:
    """No hold between rows due at once (a catch-up after downtime): one claim takes them all."""
    enrollment = await seed.enrollment()
    await seed.many_deliveries(enrollment=enrollment, count=5, due_at=T0)
    assert len(await claim_due_deliveries(session, now=T0, limit=10, worker_id="w")) == 5


async def test_claims_stop_while_the_send_queue_is_full(
    session_maker: async_sessionmaker[AsyncSession], seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No more than ``MAX_QUEUED`` rows wait for a send job: a tick claims the rest once the
    senders have taken some."""
    from engine.services import scheduler

    monkeypatch.setattr(scheduler, "MAX_QUEUED", 30)
    monkeypatch.setattr(scheduler, "BATCH_SIZE", 20)
    for _ in range(10):  # ten learners, five messages each to their manager (no per-learner hold)
        await seed.many_deliveries(enrollment=await seed.enrollment(), count=5, due_at=T0, recipient="manager")
    jobs: list[list[int]] = []

    async def enqueue(_key: str, ids: list[int]) -> bool:
        jobs.append(ids)
        return True

    rt = SimpleNamespace(sessions=session_maker, worker_id="w")
    assert await scheduler.claim_batches(rt, now=T0, enqueue=enqueue) == 30  # type: ignore[arg-type]
    assert [len(ids) for ids in jobs] == [20, 10]
    assert await scheduler.claim_batches(rt, now=T0, enqueue=enqueue) == 0  # type: ignore[arg-type]
    async with session_maker() as session:  # a sender takes the first job
        await session.exec(update(Delivery).where(col(Delivery.id).in_(jobs[0])).values(status="sending"))
        await session.commit()
    assert await scheduler.claim_batches(rt, now=T0, enqueue=enqueue) == 20  # type: ignore[arg-type]
    async with session_maker() as session:
        queued = (await session.exec(select(func.count()).where(col(Delivery.status) == "queued"))).one()
    assert queued == 30


async def test_a_retried_message_holds_the_learners_untried_ones_whatever_their_row(
    session: AsyncSession, seed: Seed
) -> None:
    """Row ids are not the campaign's order (a review's date moves with the answers): a message
    retrying holds the learner's untried messages even of lower ids; two tried ones wait in row
    order, so neither waits for the other forever."""
    ana = await seed.enrollment()
    review = await seed.delivery(enrollment=ana, due_at=T0)  # planned first, moved later by answers
    memo = await seed.delivery(enrollment=ana, due_at=T0 + timedelta(minutes=5), status="planned", attempts=1)
    assert await claim_due_deliveries(session, now=T0, limit=10, worker_id="w") == []
    await session.exec(update(Delivery).where(col(Delivery.id) == review.id).values(attempts=1))
    await session.commit()
    # Both tried: the lower row goes first, then the other.
    assert [d.id for d in await claim_due_deliveries(session, now=T0, limit=10, worker_id="w")] == [review.id]
    await session.exec(update(Delivery).where(col(Delivery.id) == review.id).values(status="sent"))
    await session.commit()
    claimed = await claim_due_deliveries(session, now=T0 + timedelta(minutes=5), limit=10, worker_id="w")
    assert [d.id for d in claimed] == [memo.id]
