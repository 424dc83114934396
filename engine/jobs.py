"""The jobs the worker runs, as the web app, the demo and the worker itself name them.

Job names, the queue, job ids and one enqueue helper live here so that whoever
enqueues (the web app's routes, the demo's fast ticks, the worker's own tick)
never imports the worker. Job ids are deterministic and carry our Redis prefix
(arq keeps job keys in one global namespace), so the same piece of work is
never queued twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from arq.connections import ArqRedis

from engine.settings import Settings

SEND_BATCH_JOB = "send_batch_job"
PROCESS_INBOUND_JOB = "process_inbound_job"
TICK_JOB = "tick_job"
DIGEST_JOB = "digest_job"
JOB_NAMES = (SEND_BATCH_JOB, PROCESS_INBOUND_JOB, TICK_JOB, DIGEST_JOB)

#: ``enqueue(key, delivery_ids)`` for a send batch: True if queued, False if already there.
BatchEnqueue = Callable[[str, list[int]], Awaitable[bool]]


def queue_name(settings: Settings) -> str:
    return f"{settings.redis_prefix}:queue"


def job_id(settings: Settings, key: str) -> str:
    """arq keeps job keys in one global namespace: our prefix keeps deployments apart."""
    return f"{settings.redis_prefix}:{key}"


def job_key(function: str, argument: int) -> str:
    """The deterministic key of a one-argument job: a redelivered event is never queued twice."""
    if function == PROCESS_INBOUND_JOB:
        return f"inbound:{argument}"
    return f"{function}:{argument}"


async def enqueue_job(pool: ArqRedis, settings: Settings, function: str, *args: Any, key: str) -> bool:
    """Queues ``function(*args)`` under the id ``key`` names; False if that job is already known."""
    job = await pool.enqueue_job(function, *args, _job_id=job_id(settings, key), _queue_name=queue_name(settings))
    return job is not None


def batch_enqueuer(pool: ArqRedis, settings: Settings) -> BatchEnqueue:
    """The ``enqueue`` the scheduler's tick takes: one send batch per claim key."""

    async def enqueue(key: str, delivery_ids: list[int]) -> bool:
        return await enqueue_job(pool, settings, SEND_BATCH_JOB, delivery_ids, key=key)

    return enqueue
