"""Handing stored inbound events to the worker through arq, without ever losing one.

The database row is the guarantee, Redis only the doorbell: if enqueueing
fails or hangs (Redis down), the route still acknowledges the provider and the
worker's tick later sweeps events left in ``received``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

from engine.jobs import job_id, job_key, queue_name
from engine.settings import Settings
from webhooks.batching import Batcher

log = logging.getLogger("ancrage.webhooks")

#: ``enqueue(job_function_name, event_id)``; tests pass an in-memory recorder.
Enqueue = Callable[[str, int], Awaitable[None]]

ENQUEUE_TIMEOUT_SECONDS = 1.0


#: arq's ``enqueue_job`` (skip a job whose job or result key exists; store the job; add it
#: to the queue) for a whole batch, as one atomic script: one command and one Redis round
#: trip per batch (a script per job in a pipeline cost redis-py ~15 % of a webhook's CPU).
#: KEYS: the queue, then each job's job key and result key; ARGV: expiry (ms), score, then
#: each job's payload and id. Returns 1 (queued) or 0 (already there) per job.
_ENQUEUE_BATCH_SCRIPT = """
local out = {}
for i = 1, (#KEYS - 1) / 2 do
  if redis.call('exists', KEYS[2 * i], KEYS[2 * i + 1]) > 0 then
    out[i] = 0
  else
    redis.call('psetex', KEYS[2 * i], ARGV[1], ARGV[2 * i + 1])
    redis.call('zadd', KEYS[1], ARGV[2], ARGV[2 * i + 2])
    out[i] = 1
  end
end
return out
"""


def arq_enqueue(pool: ArqRedis, settings: Settings) -> Enqueue:
    """An :data:`Enqueue` onto the engine's arq queue, as arq itself would store the job.

    Concurrent calls are gathered (:class:`~webhooks.batching.Batcher`) into one
    script call: one Redis command per batch, not three per job.
    """
    queue = queue_name(settings)

    async def flush(jobs: list[tuple[str, int]]) -> list[bool]:
        now_ms = timestamp_ms()
        keys: list[Any] = [queue]
        args: list[Any] = [pool.expires_extra_ms, now_ms]
        for function, argument in jobs:
            identifier = job_id(settings, job_key(function, argument))
            keys += [job_key_prefix + identifier, result_key_prefix + identifier]
            args += [serialize_job(function, (argument,), {}, None, now_ms,
                                   serializer=pool.job_serializer), identifier]
        results = await pool.eval(_ENQUEUE_BATCH_SCRIPT, len(keys), *keys, *args)  # type: ignore[misc]
        return [bool(result) for result in results]

    batcher: Batcher[tuple[str, int], bool] = Batcher(flush)

    async def enqueue(function: str, argument: int) -> None:
        await batcher.submit((function, argument))

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
        lazy: ArqRedis = ArqRedis.from_url(redis_url, socket_connect_timeout=1)
        return lazy
