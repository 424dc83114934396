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
goes on does no harm either. A job with no recorded owner is left alone while
it may be between arq's mark and its first line (:data:`UNOWNED_GRACE`, read off
the mark's remaining time to live), then released as well: a worker killed in
that window (the endurance run's kills found it: arq logs the start, then the
job records its owner) left a reply marked for five minutes, and the sweep of
unprocessed replies, which leaves alone a reply whose job is still there, waited
as long.
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
#: arq's job timeout here (``engine.worker.worker_settings``); arq marks a job it starts for
#: that long plus ten seconds, so the mark's remaining time tells when the job started.
JOB_TIMEOUT = 300
MARK_MS = (JOB_TIMEOUT + 10) * 1000
#: Seconds a marked job may take to record its owner (a few milliseconds on a live worker).
UNOWNED_GRACE = 15
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
    """Clears arq's in-progress mark of queued jobs whose worker is gone, or that never said
    whose they are within :data:`UNOWNED_GRACE` seconds of being marked; returns how many."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    ids = [i.decode() if isinstance(i, bytes) else str(i)
           for i in await redis.zrangebyscore(queue, min="-inf", max=now, start=0, num=SCAN)]
    if not ids:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.pttl(_IN_PROGRESS + job_id)  # -2: not marked
            pipe.get(owner_key(queue, job_id))
        answers = await pipe.execute()
    owned: dict[str, str | None] = {}
    for job_id, left_ms, owner in zip(ids, answers[::2], answers[1::2], strict=True):
        if left_ms == -2:
            continue
        if owner:
            owned[job_id] = owner.decode() if isinstance(owner, bytes) else str(owner)
        elif 0 <= left_ms < MARK_MS - UNOWNED_GRACE * 1000:  # marked long ago, and nobody said it is theirs
            owned[job_id] = None
    if not owned:
        return 0
    workers = sorted({worker for worker in owned.values() if worker is not None})
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
        dead = {owned[j] for j in orphans} - {None}
        log.warning("%d job(s) released to run again (of %d stopped worker(s); %d with no owner)", len(orphans),
                    len(dead), sum(1 for j in orphans if owned[j] is None))
    return len(orphans)
