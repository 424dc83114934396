"""arq worker: the cron tick, the batch send job and the inbound-processing job.

Jobs are thin: build the runtime once per process (startup), then call the
services. Job ids are deterministic, so the same piece of work is never queued
twice, and they carry our Redis prefix (:mod:`engine.jobs` names them):

- a send batch's id names the batch *and its claim* (see
  :func:`engine.services.scheduler.batch_job_id`): arq refuses an id while it
  keeps a finished job's result, so a delivery claimed again after a retry must
  get a fresh id, while a second enqueue of the same claim stays a no-op;
- the tick's id names its scheduled second (``<prefix>:tick:<ms>``): every
  worker enqueues the same id for the same second and only one runs it. A fixed
  id would be refused for ``keep_result`` seconds after each run, ticking once a
  minute instead of every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from arq import ArqRedis, cron
from arq.connections import RedisSettings
from arq.constants import job_key_prefix
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine import orphans
from engine.jobs import (
    PROCESS_INBOUND_JOB,
    batch_enqueuer,
    enqueue_job,
    job_id,
    job_key,
    queue_name,
)
from engine.services.activity import NOT_PROCESSED, Activity
from engine.services.bootstrap import build_runtime, close_runtime
from engine.services.catalog import Catalog
from engine.services.dispatch import send_batch
from engine.services.runtime import Clock
from engine.services.scheduler import claim_batches, run_step, tick
from engine.settings import Settings

#: A reply still unprocessed is enqueued again at most once per window (real seconds).
SWEEP_WINDOW_SECONDS = 30
#: Earlier windows whose sweep job, still queued, a new sweep waits for (10 minutes).
SWEEP_LOOKBACK = 20

log = logging.getLogger("ancrage.worker")

Ctx = dict[str, Any]


def redis_settings(redis_url: str) -> RedisSettings:
    """arq's connection settings, retrying commands across a Redis restart.

    Without retries the first command after a restart (the worker's poll) raises
    ``ConnectionError`` and the worker exits; with them it reconnects and the
    tick re-enqueues whatever the restart lost (the database knows).
    """
    settings = RedisSettings.from_dsn(redis_url)
    settings.retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=12)
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, ConnectionResetError]
    return settings


async def startup(ctx: Ctx) -> None:
    """Builds this process's runtime; ``ctx`` may carry a ``clock`` and ``channels`` (tests, simulations)."""
    settings: Settings = ctx.get("settings") or Settings()
    rt = await build_runtime(settings, redis=ctx["redis"], channels=ctx.get("channels"), clock=ctx.get("clock"))
    ctx["rt"] = rt
    ctx["catalog"] = Catalog.load(settings.campaigns_dir, settings.content_dir)

    async def enqueue_inbound(event_id: int) -> bool:
        return await enqueue_job(ctx["redis"], settings, PROCESS_INBOUND_JOB, event_id,
                                 key=job_key(PROCESS_INBOUND_JOB, event_id))

    async def sweep_inbound(event_ids: list[int]) -> int:
        return await sweep_enqueue(ctx["redis"], settings, event_ids, window=int(time.time() // SWEEP_WINDOW_SECONDS))

    ctx["enqueue"] = batch_enqueuer(ctx["redis"], settings)
    ctx["enqueue_inbound"] = enqueue_inbound
    ctx["sweep_inbound"] = sweep_inbound
    ctx["heartbeat"] = asyncio.create_task(orphans.heartbeat(ctx["redis"], queue_name(settings), rt.worker_id))


def _swept_key(event_id: int, window: int) -> str:
    return f"{job_key(PROCESS_INBOUND_JOB, event_id)}:swept:{window}"


def _arq_job_key(settings: Settings, key: str) -> str:
    """The Redis key arq keeps a queued (or running) job under, for our job ``key``."""
    return job_key_prefix + job_id(settings, key)


async def sweep_enqueue(pool: ArqRedis, settings: Settings, event_ids: list[int], *, window: int) -> int:
    """Enqueues again the replies left unprocessed whose job is no longer in the queue; returns how many.

    A job of its own per sweep window: the first job's id may stay taken (arq keeps a
    finished job's result under its id). But a reply whose job is still waiting (the
    intake's, or an earlier sweep's of the last :data:`SWEEP_LOOKBACK` windows) is left
    to it: once the queue was slower than a window, every sweep added one more job per
    waiting reply, each of them ran ("already processed"), and the endurance run's queue
    grew to jobs waiting 100 s, sends among them. A job lost with Redis, or in progress on
    a dead worker (:mod:`engine.orphans` releases it), is no longer there or runs again.
    """
    if not event_ids:
        return 0
    async with pool.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            keys = [job_key(PROCESS_INBOUND_JOB, event_id)] + [
                _swept_key(event_id, w) for w in range(window - SWEEP_LOOKBACK, window + 1)]
            pipe.exists(*(_arq_job_key(settings, key) for key in keys))
        waiting = await pipe.execute()
    enqueued = 0
    for event_id, queued in zip(event_ids, waiting, strict=True):
        if not queued:
            enqueued += await enqueue_job(pool, settings, PROCESS_INBOUND_JOB, event_id,
                                          key=_swept_key(event_id, window))
    return enqueued


async def shutdown(ctx: Ctx) -> None:
    if "heartbeat" in ctx:
        beating = ctx.pop("heartbeat")
        beating.cancel()
        await asyncio.gather(beating, return_exceptions=True)
    if "feedback_claims" in ctx:
        await ctx.pop("feedback_claims").aclose()
    rt = ctx.pop("rt", None)  # once: stop_worker may call it again when Redis is gone
    if rt is not None:
        await close_runtime(rt)


async def stop_worker(worker: Any, *, grace: float = 5.0) -> None:
    """Stops an arq ``Worker`` run in this event loop (``handle_signals=False``) and closes it.

    It stops taking jobs, lets the running ones finish for up to ``grace`` seconds and
    cancels the rest, then closes the worker, whose ``on_shutdown`` closes the runtime.
    ``Worker.close()`` alone cancels running jobs at once and re-raises their
    ``CancelledError``, which also skips that shutdown; a job stopped here is collected.
    A job cancelled mid-way is safe: the tick recovers what it left (see ``recover_stale``).
    """
    if worker.main_task is not None:
        worker.main_task.cancel()  # the poll loop: no new job starts after this
        await asyncio.gather(worker.main_task, return_exceptions=True)
    running = [task for task in worker.tasks.values() if not task.done()]
    if running:
        _, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            task.cancel()
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    worker.tasks.clear()
    try:
        await worker.close()
    except (RedisError, OSError) as exc:  # Redis already gone (a terminal's Ctrl-C reaches a private one too)
        log.warning("worker closed without Redis (%s); its runtime is closed all the same", exc)
        if worker.on_shutdown is not None:
            await worker.on_shutdown(worker.ctx)


async def tick_job(ctx: Ctx) -> dict[str, int]:
    from engine.services.inbound import sweep_unprocessed

    await _own(ctx)  # a long tick on a live worker is not taken for one that never said whose it is
    rt = ctx["rt"]
    report = await tick(rt, catalog=ctx["catalog"], enqueue=ctx["enqueue"])
    swept = await run_step("sweep_inbound",
                           lambda: sweep_unprocessed(rt, now=rt.now(), enqueue=ctx["sweep_inbound"]), 0)
    await run_step("release_orphans",
                   lambda: orphans.release_orphans(ctx["redis"], queue_name(rt.settings)), 0)
    log.info(ctx.setdefault("activity", Activity()).tick_line(report, swept=swept))
    figures = {k: v for k, v in vars(report).items() if v}
    if swept:
        figures["inbound_swept"] = swept
    return figures


async def digest_job(ctx: Ctx) -> int:
    """Monday digests that are due in their recipients' zones (idempotent per person and week)."""
    from engine.services.digests import send_due_digests

    await _own(ctx)
    rt = ctx["rt"]
    return await send_due_digests(rt, now=rt.now())


async def _own(ctx: Ctx) -> None:
    """Records this worker as the job's (see :mod:`engine.orphans`); a Redis blip only loses that."""
    if "job_id" in ctx:
        with contextlib.suppress(RedisError):
            await orphans.own(ctx["redis"], queue_name(ctx["rt"].settings), ctx["job_id"], ctx["rt"].worker_id)


async def send_batch_job(ctx: Ctx, delivery_ids: list[int]) -> dict[str, int]:
    await _own(ctx)
    counts = await send_batch(ctx["rt"], delivery_ids)
    ctx.setdefault("activity", Activity()).add_sends(counts)
    return counts


async def process_inbound_job(ctx: Ctx, event_id: int) -> str:
    """Processes one reply (and others waiting, in one batch), then has what they made due
    (feedback) claimed without waiting for the tick."""
    from engine.services.inbound import process_inbound_batch

    processed, claims = _reply_helpers(ctx)
    if event_id in processed:  # committed by a batch of this process: no need to ask the database
        return "already processed"
    await _own(ctx)
    outcomes = await process_inbound_batch(ctx["rt"], event_id)
    activity = ctx.setdefault("activity", Activity())
    done = [i for i, outcome in outcomes.items() if outcome not in NOT_PROCESSED]
    for i in done:
        activity.add_reply(outcomes[i])
        processed.add(i)
    if done:
        await claims.request()
    await drop_queued_replies(ctx["redis"], ctx["rt"].settings, [i for i in done if i != event_id])
    return outcomes[event_id]


async def drop_queued_replies(pool: ArqRedis, settings: Settings, event_ids: list[int]) -> None:
    """Takes out of the queue the jobs of replies a batch has just processed (committed).

    A batch takes the replies waiting beside its own, whose jobs would then each run
    for nothing ("already processed"): two in three of the endurance run's reply jobs,
    with arq's round trips and a row lock each, queued ahead of the sends. A job already
    started merely finds its reply done, and one arq is about to start finds no job
    ("expired"): nothing is lost, the reply is processed. Best effort: Redis failing here
    leaves the jobs to run.
    """
    if not event_ids:
        return
    keys = [job_key(PROCESS_INBOUND_JOB, i) for i in event_ids]
    with contextlib.suppress(RedisError, OSError):
        async with pool.pipeline(transaction=False) as pipe:
            pipe.zrem(queue_name(settings), *(job_id(settings, key) for key in keys))
            pipe.delete(*(_arq_job_key(settings, key) for key in keys))
            await pipe.execute()


def _reply_helpers(ctx: Ctx) -> tuple[RecentIds, FeedbackClaims]:
    """This process's recently processed ids and its shared feedback claim (made on first use)."""
    if "feedback_claims" not in ctx:
        rt = ctx["rt"]
        ctx["processed"] = RecentIds()
        sends = InlineSends(rt, ctx.setdefault("activity", Activity()))
        ctx["feedback_claims"] = FeedbackClaims(
            lambda: claim_batches(rt, now=rt.now(), enqueue=sends.enqueue, max_batches=10), sends)
    return ctx["processed"], ctx["feedback_claims"]


class InlineSends:
    """Sends the batches a reply's claim took in this process, instead of queueing a send job.

    The feedback's second trip through arq's queue was most of a reply's wait: at
    90 replies/s the send job waited 100-450 ms behind reply jobs for a slot
    (``bench/bench_replies.py`` (b), step "claimed → sending"). The batch is sent
    by the same :func:`~engine.services.dispatch.send_batch` a send job runs, with
    the same guarantees: its rows were claimed (``planned → queued``,
    compare-and-set) before, and a worker killed meanwhile leaves them ``queued``
    (the tick's ``requeue_lost`` hands them out again) or ``sending`` (the
    stale-send recovery asks the provider), exactly as a killed send job does.
    """

    def __init__(self, rt: Any, activity: Activity) -> None:
        self._rt = rt
        self._activity = activity
        self.started: list[asyncio.Task[None]] = []

    async def enqueue(self, key: str, delivery_ids: list[int]) -> bool:
        self.started.append(asyncio.create_task(self._send(delivery_ids)))
        return True

    async def _send(self, delivery_ids: list[int]) -> None:
        try:
            self._activity.add_sends(await send_batch(self._rt, delivery_ids))
        except Exception:  # left queued: the tick's requeue hands the batch out again
            log.exception("sending a batch of %d after replies failed", len(delivery_ids))

    def take(self) -> list[asyncio.Task[None]]:
        """The sends started since the last call."""
        started, self.started = self.started, []
        return started


class RecentIds:
    """The last ``size`` event ids this process committed as processed (they never go back)."""

    def __init__(self, size: int = 20_000) -> None:
        self._order: deque[int] = deque(maxlen=size)
        self._ids: set[int] = set()

    def add(self, event_id: int) -> None:
        if len(self._order) == self._order.maxlen:
            self._ids.discard(self._order[0])
        self._order.append(event_id)
        self._ids.add(event_id)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids


class FeedbackClaims:
    """Claims due deliveries for every reply job that asks, one claim at a time.

    Replies finishing together share a claim, so their feedback goes out in one
    send batch instead of one batch each. A job waits for a claim that began
    after it asked (one under way may have read before its reply committed) and
    for the sends it started (:class:`InlineSends`), so its feedback has been
    sent, or left to the tick, when the job ends.
    """

    def __init__(self, claim: Callable[[], Awaitable[Any]], sends: InlineSends) -> None:
        self._claim = claim
        self._sends = sends
        self._sending: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._next: asyncio.Future[None] | None = None

    async def request(self) -> None:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        waiting = self._next
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        await asyncio.shield(waiting)

    async def _run(self) -> None:
        while self._next is not None:
            waiting, self._next = self._next, None
            try:
                await self._claim()
            except Exception:  # the tick claims them a second later
                log.exception("claiming feedback after replies failed")
            finally:
                sent = self._sends.take()
                if sent:  # the next claim need not wait for this one's sends; its askers do
                    self._sending.add(asyncio.create_task(self._release(waiting, sent)))
                else:
                    waiting.set_result(None)

    async def _release(self, waiting: asyncio.Future[None], sent: list[asyncio.Task[None]]) -> None:
        try:
            await asyncio.gather(*sent)
        finally:
            waiting.set_result(None)
            self._sending.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def aclose(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.gather(*self._sending, return_exceptions=True)


def worker_settings(settings: Settings, redis_url: str, *, tick_every: float | None = 1.0,
                    burst: bool = False, clock: Clock | None = None,
                    channels: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker`` (the CLI and tests build workers from them).

    ``tick_every=None`` runs no cron: whoever drives the worker enqueues ``tick_job``
    or ticks itself. A burst worker never runs the cron either: a recurring cron
    always has its next tick waiting in the queue, so the queue would never empty.
    ``clock`` and ``channels`` reach the runtime built at startup.
    """
    functions: list[Callable[..., Awaitable[Any]]] = [send_batch_job, process_inbound_job, tick_job, digest_job]
    cron_jobs = []
    if tick_every is not None and not burst:
        seconds = set(range(0, 60, max(1, int(tick_every))))
        # ``name`` (not ``job_id``): arq then ids each run "<name>:<scheduled ms>".
        cron_jobs.append(cron(tick_job, name=job_id(settings, "tick"), second=seconds,
                              run_at_startup=True, unique=True))
        cron_jobs.append(cron(digest_job, name=job_id(settings, "digest"), minute={0, 15, 30, 45}, unique=True))
    ctx: Ctx = {"settings": settings}
    if clock is not None:
        ctx["clock"] = clock
    if channels is not None:
        ctx["channels"] = channels
    return {
        "functions": functions,
        "cron_jobs": cron_jobs,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(redis_url),
        "queue_name": queue_name(settings),
        "ctx": ctx,
        "max_jobs": int(os.environ.get("ANCRAGE_MAX_JOBS", "20")),
        "job_timeout": orphans.JOB_TIMEOUT,
        "keep_result": 60,
        "poll_delay": 0.05,
        "burst": burst,
        "handle_signals": not burst,
    }
