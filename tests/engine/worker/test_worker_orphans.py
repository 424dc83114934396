"""A dead worker's jobs run again within seconds (``engine.orphans``), not after arq's job timeout;
a live worker's jobs, and jobs whose owner is not known yet, are left alone; a job that never
said whose it is, once its mark is older than the grace, runs again too."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from arq import create_pool, func
from arq.worker import Worker
from redis.asyncio import Redis

from engine import orphans
from engine.jobs import queue_name
from engine.worker import redis_settings
from tests.support.engine_harness import HandClock
from tests.support.sessions import add_session
from tests.support.worker_harness import (
    TCP_REDIS,
    Providers,
    delete_keys,
    driver,
    live_settings,
    running_worker,
    wait_for,
)
from tests.support.worker_scenarios import START, numbered, write_open_campaign

IN_PROGRESS = "arq:in-progress:"


async def test_only_a_dead_workers_jobs_are_released_and_arq_runs_them_at_once() -> None:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    queue = f"{prefix}:queue"
    client = Redis.from_url(TCP_REDIS)
    pool = await create_pool(redis_settings(TCP_REDIS))
    ran: list[str] = []

    async def noop(ctx: dict[str, Any]) -> None:
        ran.append(ctx["job_id"])

    try:
        for name in ("dead", "live", "unknown", "never-owned"):
            job = f"{prefix}:{name}"
            await pool.enqueue_job("noop", _job_id=job, _queue_name=queue)
            await client.psetex(IN_PROGRESS + job, orphans.MARK_MS, b"1")  # as arq marks a job it starts
        # Marked 16 s ago and still no owner: its worker died between arq's mark and the job's first line.
        await client.psetex(IN_PROGRESS + f"{prefix}:never-owned", orphans.MARK_MS - 16_000, b"1")
        await orphans.own(client, queue, f"{prefix}:dead", "host:gone")
        await orphans.own(client, queue, f"{prefix}:live", "host:here")
        await client.set(orphans.alive_key(queue, "host:here"), b"1", ex=15)

        assert await orphans.release_orphans(client, queue) == 2
        assert not await client.exists(IN_PROGRESS + f"{prefix}:dead")
        assert not await client.exists(IN_PROGRESS + f"{prefix}:never-owned")
        assert await client.exists(IN_PROGRESS + f"{prefix}:live")
        assert await client.exists(IN_PROGRESS + f"{prefix}:unknown")  # marked just now: may not have said yet
        assert await orphans.release_orphans(client, queue) == 0  # nothing more to release

        # arq starts the released job at its next poll; the others stay marked.
        worker = Worker(functions=[func(noop, name="noop")], queue_name=queue, redis_pool=pool, burst=False, poll_delay=0.05,
                        handle_signals=False)
        task = asyncio.create_task(worker.async_run())
        try:
            await wait_for(lambda: _ran(ran, f"{prefix}:dead"), timeout=10, what="the released job")
            await wait_for(lambda: _ran(ran, f"{prefix}:never-owned"), timeout=10, what="the released job")
            await asyncio.sleep(0.3)
            assert sorted(ran) == [f"{prefix}:dead", f"{prefix}:never-owned"]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await delete_keys(TCP_REDIS, prefix)
        await client.delete(orphans.alive_key(queue, "host:here"))
        await client.aclose()
        await pool.aclose()


async def _ran(ran: list[str], job: str) -> bool:
    return job in ran


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_an_engine_worker_says_it_is_alive_and_owns_its_jobs(store_url: str, tmp_path: Path,
                                                                   providers: Providers) -> None:
    write_open_campaign(tmp_path / "campaigns")
    settings = live_settings(store_url, TCP_REDIS, tmp_path, providers, tmp_path / "campaigns")
    clock = HandClock(START)
    client = Redis.from_url(TCP_REDIS)
    queue = queue_name(settings)
    try:
        async with driver(settings, clock) as drv:
            await add_session(drv, learners=numbered(3), campaigns=["open"], ends_at=START)
            await drv.tick()
            clock.advance(minutes=10)
            assert (await drv.tick()).claimed == 3
            async with running_worker(settings, clock) as worker:
                worker_id = worker.ctx["rt"].worker_id

                async def alive() -> bool:
                    return bool(await client.exists(orphans.alive_key(queue, worker_id)))

                await wait_for(alive, timeout=10, what="the worker's liveness key")

                async def owned() -> bool:
                    owners = [await client.get(k) async for k in client.scan_iter(match=f"{queue}:owner:*")]
                    return bool(owners) and set(owners) == {worker_id.encode()}

                await wait_for(owned, timeout=20, what="the send job's owner key")
    finally:
        await delete_keys(TCP_REDIS, settings.redis_prefix)
        await client.aclose()
