"""Stopping an in-process arq worker: running jobs finish or are cancelled quietly, and shutdown runs.

``Worker.close()`` cancels running jobs at once and re-raises their
``CancelledError``, which skipped ``on_shutdown`` (the runtime's close) and,
in the suite, failed a test whose last job was still writing its result.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from arq import create_pool, func
from arq.worker import Worker

from engine.redis_server import PrivateRedis
from engine.worker import redis_settings, stop_worker
from tests.support.worker_harness import delete_keys

REDIS = "redis://127.0.0.1:6379/0"


async def _worker(queue: str, shut: list[str]) -> tuple[Worker, asyncio.Task[None], list[str]]:
    done: list[str] = []

    async def short(ctx: dict[str, Any]) -> None:
        await asyncio.sleep(0.2)
        done.append("short")

    async def long(ctx: dict[str, Any]) -> None:
        await asyncio.sleep(60)
        done.append("long")

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        shut.append("closed")

    worker = Worker(functions=[func(short, name="short"), func(long, name="long")], redis_settings=redis_settings(REDIS), queue_name=queue,
                    handle_signals=False, poll_delay=0.02, on_shutdown=on_shutdown, keep_result=0)
    return worker, asyncio.create_task(worker.async_run()), done


async def _running(worker: Worker, count: int) -> None:
    for _ in range(500):
        if sum(not t.done() for t in worker.tasks.values()) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("jobs did not start")


@pytest.fixture
async def pool_and_worker() -> AsyncIterator[tuple[Any, str, Worker, asyncio.Task[None], list[str], list[str]]]:
    prefix = f"stopworker-{uuid.uuid4().hex[:8]}"
    pool = await create_pool(redis_settings(REDIS))
    shut: list[str] = []
    worker, task, done = await _worker(f"{prefix}:queue", shut)
    try:
        yield pool, prefix, worker, task, done, shut
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.aclose()
        await delete_keys(REDIS, prefix)


async def test_a_job_running_at_stop_finishes_and_a_late_one_is_cancelled_without_raising(
        pool_and_worker: tuple[Any, str, Worker, asyncio.Task[None], list[str], list[str]]) -> None:
    pool, prefix, worker, task, done, shut = pool_and_worker
    await pool.enqueue_job("short", _queue_name=f"{prefix}:queue", _job_id=f"{prefix}:1")
    await pool.enqueue_job("long", _queue_name=f"{prefix}:queue", _job_id=f"{prefix}:2")
    await _running(worker, 2)
    await stop_worker(worker, grace=1.0)  # raises nothing, though "long" is cancelled
    assert done == ["short"]
    assert shut == ["closed"]
    assert not worker.tasks
    await asyncio.gather(task, return_exceptions=True)
    assert task.done()


async def test_no_job_is_started_after_stop_begins(
        pool_and_worker: tuple[Any, str, Worker, asyncio.Task[None], list[str], list[str]]) -> None:
    pool, prefix, worker, _, done, shut = pool_and_worker
    queue = f"{prefix}:queue"
    await pool.enqueue_job("short", _queue_name=queue, _job_id=f"{prefix}:1")
    await _running(worker, 1)
    stopping = asyncio.create_task(stop_worker(worker, grace=5.0))
    await asyncio.sleep(0.05)
    await pool.enqueue_job("short", _queue_name=queue, _job_id=f"{prefix}:2")  # arrives while the first finishes
    await stopping
    assert done == ["short"]
    assert await pool.zcard(queue) == 1  # still waiting for the next worker
    assert shut == ["closed"]


async def test_a_worker_whose_redis_is_gone_still_closes_its_runtime(tmp_path: Path) -> None:
    """Ctrl-C in a terminal reaches the demo's private Redis too: it may be gone before the worker closes."""
    shut: list[str] = []

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        shut.append("closed")

    async def noop(ctx: dict[str, Any]) -> None:
        return None

    with PrivateRedis(tmp_path / "redis") as redis:
        worker = Worker(functions=[func(noop, name="noop")], redis_settings=redis_settings(redis.url),
                        queue_name="stopworker-gone:queue", handle_signals=False, poll_delay=0.02,
                        on_shutdown=on_shutdown)
        await _stop_with_redis_gone(worker, redis)
    assert shut == ["closed"]


async def _stop_with_redis_gone(worker: Worker, redis: PrivateRedis) -> None:
    task = asyncio.create_task(worker.async_run())
    try:
        for _ in range(500):  # started: its pool is in ctx
            if "redis" in worker.ctx:
                break
            await asyncio.sleep(0.01)
        assert "redis" in worker.ctx
        redis.stop()
        await stop_worker(worker, grace=1.0)  # no ConnectionError
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
