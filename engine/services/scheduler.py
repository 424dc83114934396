"""The tick: finds work in the database and hands it to the queue.

Redis only carries work; the database says what is due. Each tick:

- enrols the attendees of sessions that have just ended;
- applies the catch-up rule to messages overdue after a pause or an outage;
- claims due deliveries in batches (``queued``) and enqueues one send job per
  batch under a deterministic job id (the batch and its claim time);
- re-enqueues batches claimed long ago whose job vanished (Redis flushed or
  restarted, a refused enqueue): the re-claim stamps ``claimed_at`` again, so a
  batch is re-enqueued at most once per :data:`REQUEUE_AFTER`, and the send
  job's compare-and-set (``queued → sending``) makes a second job harmless;
- recovers deliveries stuck in ``sending`` after a worker died mid-send;
- closes questions whose reply window has passed, and runs silence rules.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services.catalog import Catalog
from engine.services.enrolment import apply_catch_up, end_session
from engine.services.runtime import Runtime
from engine.store.base import DeliveryStatus, EnrollmentStatus
from engine.store.deliveries import claim_due_deliveries
from engine.store.models import Delivery, Enrollment, Learner, TrainingSession

BATCH_SIZE = 100
REQUEUE_AFTER = timedelta(seconds=60)

log = logging.getLogger("ancrage.scheduler")

Enqueue = Callable[[str, list[int]], Awaitable[bool]]


@dataclass
class TickReport:
    sessions_ended: int = 0
    enrolled: int = 0
    caught_up: int = 0
    claimed: int = 0
    requeued: int = 0
    recovered: int = 0
    expired_prompts: int = 0


def batch_job_id(delivery_ids: list[int], claimed_at: datetime) -> str:
    """One id per claim of a batch: enqueuing the same claim twice is a no-op.

    The claim time is part of the id because arq refuses an id whose finished
    result it still keeps: a delivery retried after a temporary error and
    claimed again, alone, must not be refused as "already done".
    """
    key = ",".join(map(str, sorted(delivery_ids))) + "@" + claimed_at.isoformat()
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return f"send:{min(delivery_ids)}:{digest}"


async def end_due_sessions(session: AsyncSession, *, catalog: Catalog, now: datetime) -> tuple[int, int]:
    """Enrols attendees of every session whose end has passed and was not processed yet.

    On PostgreSQL the sessions are locked (``FOR UPDATE SKIP LOCKED``): several
    workers tick at once, and a second one must skip a session being enrolled
    rather than enrol it again and fail on the enrolment's unique key.
    """
    due = select(TrainingSession).where(
        col(TrainingSession.ends_at) <= now, col(TrainingSession.ended_processed_at).is_(None))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    sessions = (await session.exec(due)).all()
    enrolled = 0
    for training in sessions:
        enrolled += len(await end_session(session, training=training, campaigns=catalog.campaigns,
                                          library=catalog.library, now=now))
    return len(sessions), enrolled


async def catch_up_overdue(session: AsyncSession, *, now: datetime, limit: int = 200) -> int:
    """Applies the catch-up rule for learners with messages overdue by more than an hour."""
    rows = (await session.exec(select(Delivery.enrollment_id).join(
        Enrollment, col(Enrollment.id) == col(Delivery.enrollment_id)).where(
        col(Delivery.status) == DeliveryStatus.PLANNED, col(Delivery.due_at) < now - timedelta(hours=1),
        col(Enrollment.status) == EnrollmentStatus.ACTIVE).distinct().limit(limit))).all()
    moved = 0
    for enrollment_id in rows:
        enrollment = await session.get(Enrollment, enrollment_id)
        learner = await session.get(Learner, enrollment.learner_id) if enrollment else None
        if enrollment is not None and learner is not None:
            moved += await apply_catch_up(session, enrollment=enrollment, learner=learner, now=now)
    return moved


async def claim_batches(rt: Runtime, *, now: datetime, enqueue: Enqueue, max_batches: int = 50) -> int:
    """Claims due deliveries batch by batch and enqueues a send job for each batch."""
    claimed = 0
    for _ in range(max_batches):
        async with rt.sessions() as session, session.begin():
            rows = await claim_due_deliveries(session, now=now, limit=BATCH_SIZE, worker_id=rt.worker_id)
        if not rows:
            break
        ids = [row.id for row in rows if row.id is not None]
        if not await enqueue(batch_job_id(ids, now), ids):
            log.warning("send batch of %d not enqueued (id taken): requeued after %s", len(ids), REQUEUE_AFTER)
        claimed += len(ids)
        if len(ids) < BATCH_SIZE:
            break
    return claimed


async def requeue_lost(rt: Runtime, *, now: datetime, enqueue: Enqueue) -> int:
    """Deliveries claimed long ago but still queued: their job was lost, enqueue them again.

    The rows are claimed anew (``claimed_at = now``, compare-and-set on
    ``queued``) before the enqueue, so concurrent ticks do not both re-enqueue
    them and a slow but alive queue is not flooded with copies every tick.
    """
    async with rt.sessions() as session, session.begin():
        stale = (select(Delivery.id).where(
            col(Delivery.status) == DeliveryStatus.QUEUED,
            col(Delivery.claimed_at) < now - REQUEUE_AFTER).order_by(col(Delivery.id)).limit(1000))
        if rt.engine.dialect.name == "postgresql":
            stale = stale.with_for_update(skip_locked=True)
        candidates = [i for i in (await session.exec(stale)).all() if i is not None]
        ids: list[int] = []
        if candidates:
            result = await session.exec(update(Delivery).where(
                col(Delivery.id).in_(candidates), col(Delivery.status) == DeliveryStatus.QUEUED,
                col(Delivery.claimed_at) < now - REQUEUE_AFTER,
            ).values(claimed_at=now, claimed_by=rt.worker_id).returning(col(Delivery.id)))
            ids = sorted(int(i) for i in result.scalars().all())
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start:start + BATCH_SIZE]
        await enqueue(batch_job_id(chunk, now), chunk)
    return len(ids)


async def tick(rt: Runtime, *, catalog: Catalog, enqueue: Enqueue) -> TickReport:
    """One pass of the scheduler; safe to run from several workers at once."""
    from engine.services.recovery import recover_stale
    from engine.services.silence import expire_prompts

    report = TickReport()
    now = rt.now()
    async with rt.sessions() as session, session.begin():
        report.sessions_ended, report.enrolled = await end_due_sessions(session, catalog=catalog, now=now)
    async with rt.sessions() as session, session.begin():
        report.caught_up = await catch_up_overdue(session, now=now)
    report.claimed = await claim_batches(rt, now=now, enqueue=enqueue)
    report.requeued = await requeue_lost(rt, now=now, enqueue=enqueue)
    report.recovered = await recover_stale(rt, now=now)
    report.expired_prompts = await expire_prompts(rt, now=now)
    return report
