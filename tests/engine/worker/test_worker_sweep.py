"""Reply jobs that would run for nothing stay out of the queue. The sweep of unprocessed replies enqueues a reply again only when no job of it is left in the
queue (real Redis): the endurance run's queue grew to jobs waiting 100 s once every sweep window
added one more job per waiting reply, each of them run for nothing ("already processed")."""

from __future__ import annotations

import uuid
from typing import Any

from arq import create_pool, func
from arq.constants import default_queue_name, job_key_prefix
from arq.worker import Worker

from engine.jobs import PROCESS_INBOUND_JOB, enqueue_job, job_id, job_key, queue_name
from engine.settings import Settings
from engine.worker import SWEEP_LOOKBACK, drop_queued_replies, redis_settings, sweep_enqueue
from tests.support.worker_harness import TCP_REDIS, delete_keys


async def test_a_reply_still_queued_is_not_swept_again_and_a_lost_one_is() -> None:
    settings = Settings(redis_prefix=f"t{uuid.uuid4().hex[:10]}")
    pool = await create_pool(redis_settings(TCP_REDIS), default_queue_name=default_queue_name)
    queue = queue_name(settings)
    try:
        # Reply 1's job from the intake waits in the queue; replies 2 and 3 have none (Redis was down).
        assert await enqueue_job(pool, settings, PROCESS_INBOUND_JOB, 1, key=job_key(PROCESS_INBOUND_JOB, 1))
        assert await sweep_enqueue(pool, settings, [1, 2, 3], window=100) == 2
        assert await pool.zcard(queue) == 3
        # Later sweeps, in this window and the next ones: every reply has a job waiting.
        for window in (100, 101, 100 + SWEEP_LOOKBACK):
            assert await sweep_enqueue(pool, settings, [1, 2, 3], window=window) == 0
        assert await pool.zcard(queue) == 3
        # Past the look-back, a reply whose sweep job still waits gets one more (bounded: one per look-back).
        assert await sweep_enqueue(pool, settings, [2], window=101 + SWEEP_LOOKBACK) == 1
        # Redis lost every job (a restart): each reply is enqueued again, once.
        await delete_keys(TCP_REDIS, settings.redis_prefix)
        assert await sweep_enqueue(pool, settings, [1, 2, 3], window=200) == 3
        assert await sweep_enqueue(pool, settings, [1, 2, 3], window=201) == 0
        assert await pool.zcard(queue) == 3
        assert await sweep_enqueue(pool, settings, [], window=202) == 0
    finally:
        await pool.aclose()
        await delete_keys(TCP_REDIS, settings.redis_prefix)


async def test_the_jobs_of_replies_a_batch_processed_leave_the_queue() -> None:
    """A batch that took replies 2 and 3 beside its own takes their jobs out of the queue: a
    real arq worker then runs reply 1's job only, and finds nothing broken."""
    settings = Settings(redis_prefix=f"t{uuid.uuid4().hex[:10]}")
    pool = await create_pool(redis_settings(TCP_REDIS), default_queue_name=default_queue_name)
    ran: list[int] = []

    async def record(ctx: dict[str, Any], event_id: int) -> None:
        ran.append(event_id)

    try:
        for event_id in (1, 2, 3):
            assert await enqueue_job(pool, settings, PROCESS_INBOUND_JOB, event_id,
                                     key=job_key(PROCESS_INBOUND_JOB, event_id))
        await drop_queued_replies(pool, settings, [2, 3])
        await drop_queued_replies(pool, settings, [])
        assert await pool.zcard(queue_name(settings)) == 1
        assert not await pool.exists(job_key_prefix + job_id(settings, job_key(PROCESS_INBOUND_JOB, 2)))
        worker = Worker([func(record, name=PROCESS_INBOUND_JOB)], redis_pool=pool, burst=True, poll_delay=0.05,
                        queue_name=queue_name(settings), handle_signals=False)
        await worker.main()
        assert ran == [1] and (worker.jobs_complete, worker.jobs_failed) == (1, 0)
        # A reply that comes again (a provider retry) can be queued again: nothing of the old job is left.
        assert await enqueue_job(pool, settings, PROCESS_INBOUND_JOB, 2, key=job_key(PROCESS_INBOUND_JOB, 2))
    finally:
        await pool.aclose()
        await delete_keys(TCP_REDIS, settings.redis_prefix)
