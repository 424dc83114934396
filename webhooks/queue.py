"""Handing stored inbound events to the worker through arq, without ever losing one.

The database row is the guarantee, Redis only the doorbell: if enqueueing
fails or hangs (Redis down), the route still acknowledges the provider and the
worker's tick later sweeps events left in ``received``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from arq.connections import ArqRedis, RedisSettings, create_pool

from engine.settings import Settings
from engine.worker import job_id, queue_name

log = logging.getLogger("ancrage.webhooks")

#: ``enqueue(job_function_name, event_id)``; tests pass an in-memory recorder.
Enqueue = Callable[[str, int], Awaitable[None]]

PROCESS_INBOUND_JOB = "process_inbound_job"
ENQUEUE_TIMEOUT_SECONDS = 1.0


def job_key(function: str, argument: int) -> str:
    """The deterministic job key: a redelivered event is never queued twice."""
    if function == PROCESS_INBOUND_JOB:
        return f"inbound:{argument}"
    return f"{function}:{argument}"


def arq_enqueue(pool: ArqRedis, settings: Settings) -> Enqueue:
    """An :data:`Enqueue` that puts the job on the engine's arq queue."""

    async def enqueue(function: str, argument: int) -> None:
        await pool.enqueue_job(
            function,
            argument,
            _job_id=job_id(settings, job_key(function, argument)),
            _queue_name=queue_name(settings),
        )

    return enqueue


async def discard(function: str, argument: int) -> None:
    """No Redis configured: the worker's sweep of ``received`` events does the work."""


async def enqueue_safely(enqueue: Enqueue, function: str, argument: int) -> bool:
    """Enqueue, but never let Redis trouble fail a request whose event is already stored."""
    try:
        async with asyncio.timeout(ENQUEUE_TIMEOUT_SECONDS):
            await enqueue(function, argument)
        return True
    except Exception as exc:  # any Redis/arq failure is recoverable by the sweep
        log.warning("enqueue %s(%s) failed, left for the sweep: %s", function, argument,
                    type(exc).__name__)
        return False


async def open_pool(redis_url: str) -> ArqRedis:
    """An arq pool; if Redis is down at start-up, a lazy client that connects on first use.

    The web process must start (and store webhooks) even while Redis is away.
    """
    redis_settings = RedisSettings.from_dsn(redis_url)
    redis_settings.conn_retries = 0
    redis_settings.conn_timeout = 1
    try:
        return await create_pool(redis_settings)
    except Exception as exc:  # start anyway, readyz reports it
        log.warning("Redis unavailable at start-up (%s); enqueueing will retry lazily",
                    type(exc).__name__)
        return ArqRedis.from_url(redis_url, socket_connect_timeout=1)
