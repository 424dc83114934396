"""Jobs of a dead worker run again within seconds, not after arq's job timeout.

arq marks a job it starts "in progress" (a Redis key) for the longest job timeout
plus ten seconds, five minutes here, and leaves it in the queue until it ends. A
worker killed mid-job (SIGKILL, the OOM killer, a lost machine) leaves its jobs
marked: nobody runs them for five minutes, and each poll of every live worker
reads them first (arq reads the queue's first 100 ids, whatever their state) and
skips them, three Redis round trips each. After a few kills they filled the
head of the queue: the endurance run's jobs waited 7 s at the median, 5 minutes
at worst, with the cores half idle.

So each worker says it is alive (:func:`heartbeat`: a key refreshed every few
seconds, gone :data:`ALIVE_TTL` seconds after the worker dies), each job records
its worker (:func:`own`), and the tick (:func:`release_orphans`) clears the mark
of jobs whose worker is gone: arq starts them again at the next poll. Our jobs
are safe to run again (the database says what is left to do; compare-and-set
everywhere), so a job whose worker merely stalled past ``ALIVE_TTL`` and then
goes on does no harm either. A job with no recorded owner (between arq's mark
and the job's first line) is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

log = logging.getLogger("ancrage.orphans")

#: Seconds a worker's liveness key outlives its last refresh (refreshed every third of it).
ALIVE_TTL = 15
#: Queue entries looked at per pass (the head of the queue, where arq reads).
SCAN = 500
_IN_PROGRESS = "arq:in-progress:"


def alive_key(queue: str, worker_id: str) -> str:
    return f"{queue}:alive:{worker_id}"


def owner_key(queue: str, job_id: str) -> str:
    return f"{queue}:owner:{job_id}"


async def heartbeat(redis: Any, queue: str, worker_id: str, *, ttl: int = ALIVE_TTL) -> None:
    """Refreshes this worker's liveness key until cancelled (a Redis blip is retried)."""
    while True:
        with contextlib.suppress(Exception):
            await redis.set(alive_key(queue, worker_id), b"1", ex=ttl)
        await asyncio.sleep(ttl / 3)


async def own(redis: Any, queue: str, job_id: str, worker_id: str, *, ttl: int = 330) -> None:
    """Records that this worker runs ``job_id`` (for as long as arq's in-progress mark lasts)."""
    await redis.set(owner_key(queue, job_id), worker_id.encode(), ex=ttl)


async def release_orphans(redis: Any, queue: str, *, now_ms: int | None = None) -> int:
    """Clears arq's in-progress mark of queued jobs whose worker is gone; returns how many."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    ids = [i.decode() if isinstance(i, bytes) else str(i)
           for i in await redis.zrangebyscore(queue, min="-inf", max=now, start=0, num=SCAN)]
    if not ids:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.exists(_IN_PROGRESS + job_id)
            pipe.get(owner_key(queue, job_id))
        answers = await pipe.execute()
    owned = {job_id: (owner.decode() if isinstance(owner, bytes) else str(owner))
             for job_id, running, owner in zip(ids, answers[::2], answers[1::2], strict=True)
             if running and owner}
    if not owned:
        return 0
    workers = sorted(set(owned.values()))
    async with redis.pipeline(transaction=False) as pipe:
        for worker in workers:
            pipe.exists(alive_key(queue, worker))
        alive = {worker for worker, up in zip(workers, await pipe.execute(), strict=True) if up}
    orphans = [job_id for job_id, worker in owned.items() if worker not in alive]
    if orphans:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in orphans:
                pipe.delete(_IN_PROGRESS + job_id, owner_key(queue, job_id))
            await pipe.execute()
        log.warning("%d job(s) of %d stopped worker(s) released to run again", len(orphans),
                    len({owned[j] for j in orphans}))
    return len(orphans)
