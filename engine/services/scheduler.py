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
from typing import TypeVar

from sqlalchemy import func, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core import catchup
from engine.services.catalog import Catalog
from engine.services.enrolment import apply_catch_up, end_session
from engine.services.runtime import Runtime
from engine.store.base import DeliveryStatus, EnrollmentStatus
from engine.store.deliveries import claim_due_ids
from engine.store.models import Alert, Delivery, Enrollment, Learner, TrainingSession

#: Deliveries per send job: what each job costs whatever its size (the arq job, its four
#: transactions, the lock and look-up statements) is shared by 250 rather than 100.
BATCH_SIZE = 250
REQUEUE_AFTER = timedelta(seconds=60)
#: Claimed rows waiting for a send job, at most: a tick claims no more once the queue holds this
#: many (20 jobs). Claims that run ahead of the senders only lengthen the Redis queue, where the
#: workers' own ticks and the reply jobs then wait behind them (five minutes were seen), and rows
#: left waiting past ``REQUEUE_AFTER`` are taken for lost and enqueued again.
MAX_QUEUED = 5000
#: The advisory-lock space of the catch-up's per-enrolment locks (PostgreSQL; any fixed number).
CATCH_UP_LOCKS = 0x0CA7C4
#: Alert kind of a session whose follow-up cannot start (session-level: no learner).
SESSION_PROBLEM = "session_problem"

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

    A session that cannot be enrolled (a campaign missing from the catalog, left
    out because its file has an error or was renamed; or any other error) never
    stops the others: it is flagged once (:func:`flag_session_problem`) and tried
    again at each tick, so it starts by itself once the campaign is back.
    """
    due = select(TrainingSession).where(
        col(TrainingSession.ends_at) <= now, col(TrainingSession.ended_processed_at).is_(None)
    ).order_by(col(TrainingSession.id))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    sessions = (await session.exec(due)).all()
    ended = enrolled = 0
    for training in sessions:
        session_id, title, problem = training.id or 0, training.title, training.problem
        missing = [name for name in training.campaign_names if name not in catalog.campaigns]
        if missing:
            await flag_session_problem(session, session_id=session_id, title=title, previous=problem,
                                       reason=missing_campaign_reason(title, missing), now=now)
            continue
        try:
            async with session.begin_nested():
                created = await end_session(session, training=training, campaigns=catalog.campaigns,
                                            library=catalog.library, now=now)
        except Exception as exc:  # one session's fault must not stop the others' sends
            await flag_session_problem(session, session_id=session_id, title=title, previous=problem,
                                       reason=failed_session_reason(title), now=now, error=exc)
            continue
        if problem is not None:
            await session.exec(update(TrainingSession).where(col(TrainingSession.id) == session_id)
                               .values(problem=None, problem_at=None))
            log.info("session %d: end-of-session enrolment ran after its problem was fixed", session_id)
        ended += 1
        enrolled += len(created)
    return ended, enrolled


def missing_campaign_reason(title: str, missing: list[str]) -> str:
    """What the quality manager reads when a session names a campaign the catalog lacks."""
    names = ", ".join(f"« {name} »" for name in missing)
    return (f"Le suivi de la session « {title} » n'a pas démarré : campagne {names} introuvable "
            "(fichier absent, renommé ou en erreur, voir « ancrage validate »). Le suivi démarrera "
            "de lui-même dès que la campagne sera corrigée.")[:500]


def failed_session_reason(title: str) -> str:
    return (f"Le suivi de la session « {title} » n'a pas démarré à cause d'une erreur interne "
            "(détails dans le journal du worker). Les autres sessions ne sont pas touchées ; "
            "nouvel essai à chaque minute.")[:500]


async def flag_session_problem(session: AsyncSession, *, session_id: int, title: str, previous: str | None,
                               reason: str, now: datetime, error: BaseException | None = None) -> bool:
    """Records why a session cannot start, once: its ``problem``, an alert and one log line.

    Nothing is written or logged again while the reason stays the same, however
    many ticks see the session; False then.
    """
    if previous == reason:
        return False
    await session.exec(update(TrainingSession).where(col(TrainingSession.id) == session_id)
                       .values(problem=reason, problem_at=now))
    session.add(Alert(learner_id=None, session_id=session_id, kind=SESSION_PROBLEM, reason=reason, created_at=now))
    if error is None:
        log.warning("session %d not enrolled: %s", session_id, reason)
    else:
        log.error("session %d not enrolled (%s); flagged for the quality manager", session_id,
                  type(error).__name__, exc_info=error)
    return True


async def catch_up_overdue(session: AsyncSession, *, now: datetime, limit: int = 200) -> int:
    """Applies the catch-up rule for learners with messages overdue by more than an hour.

    Concurrent ticks take disjoint enrolments (PostgreSQL: a transaction-level
    advisory lock per enrolment, tried without waiting; no row is locked, so
    nothing else waits for a pass): two passes over the same learners
    deadlocked, and one of them was aborted.
    """
    # From the overdue rows (the status/due index), not from every active enrolment.
    rows = list((await session.exec(select(Delivery.enrollment_id).join(
        Enrollment, col(Enrollment.id) == col(Delivery.enrollment_id)).where(
        col(Delivery.status) == DeliveryStatus.PLANNED, col(Delivery.due_at) < now - catchup.LATE_AFTER,
        col(Enrollment.status) == EnrollmentStatus.ACTIVE).distinct().limit(limit))).all())
    if rows and session.get_bind().dialect.name == "postgresql":
        taken = await session.exec(text(
            "SELECT id FROM unnest(CAST(:ids AS integer[])) AS id WHERE pg_try_advisory_xact_lock(:space, id)"
        ).bindparams(ids=rows, space=CATCH_UP_LOCKS))
        rows = sorted(int(row[0]) for row in taken)
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
    room = MAX_QUEUED - await _queued(rt)
    for _ in range(max_batches):
        if room <= 0:
            break
        async with rt.sessions() as session, session.begin():
            ids = await claim_due_ids(session, now=now, limit=min(BATCH_SIZE, room), worker_id=rt.worker_id)
        if not ids:
            break
        room -= len(ids)
        if not await enqueue(batch_job_id(ids, now), ids):
            log.warning("send batch of %d not enqueued (id taken): requeued after %s", len(ids), REQUEUE_AFTER)
        claimed += len(ids)
        if len(ids) < BATCH_SIZE:
            break
    return claimed


async def _queued(rt: Runtime) -> int:
    """Rows claimed and not yet taken by a send job, counted up to :data:`MAX_QUEUED` (an index scan)."""
    async with rt.sessions() as session:
        waiting = select(Delivery.id).where(col(Delivery.status) == DeliveryStatus.QUEUED).limit(MAX_QUEUED)
        return int((await session.exec(select(func.count()).select_from(waiting.subquery()))).one())


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
    """One pass of the scheduler; safe to run from several workers at once.

    Each step runs on its own (:func:`run_step`): a step that fails is logged
    once and the next steps still run, so nothing one step trips on can stop
    every send.
    """
    from engine.services.recovery import recover_stale
    from engine.services.silence import expire_prompts

    report = TickReport()
    now = rt.now()

    async def sessions_step() -> tuple[int, int]:
        async with rt.sessions() as session, session.begin():
            return await end_due_sessions(session, catalog=catalog, now=now)

    async def catch_up_step() -> int:
        async with rt.sessions() as session, session.begin():
            return await catch_up_overdue(session, now=now)

    report.sessions_ended, report.enrolled = await run_step("end_due_sessions", sessions_step, (0, 0))
    report.caught_up = await run_step("catch_up", catch_up_step, 0)
    report.claimed = await run_step("claim", lambda: claim_batches(rt, now=now, enqueue=enqueue), 0)
    report.requeued = await run_step("requeue", lambda: requeue_lost(rt, now=now, enqueue=enqueue), 0)
    report.recovered = await run_step("recover", lambda: recover_stale(rt, now=now), 0)
    report.expired_prompts = await run_step("expire_prompts", lambda: expire_prompts(rt, now=now), 0)
    return report


T = TypeVar("T")
#: Steps failing in this process, by name, with the error's type: logged once until they work again.
_FAILING: dict[str, str] = {}


async def run_step(name: str, step: Callable[[], Awaitable[T]], fallback: T) -> T:
    """Runs one step of the tick; a failure is logged once (not every second) and yields ``fallback``."""
    try:
        result = await step()
    except Exception as exc:
        kind = type(exc).__name__
        if _FAILING.get(name) != kind:
            log.exception("tick step %s failed (%s); the other steps go on. Logged once until it works again",
                          name, kind)
        _FAILING[name] = kind
        return fallback
    if _FAILING.pop(name, None) is not None:
        log.warning("tick step %s works again", name)
    return result
