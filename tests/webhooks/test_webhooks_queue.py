"""The app with a real Redis: arq jobs queued once per stored event, under the engine's names."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from arq.jobs import Job
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.jobs import queue_name
from engine.redis_server import PrivateRedis
from engine.services.runtime import Runtime
from tests.support.web_support import inbound_events, inbound_form, make_settings, post_signed
from webhooks.app import create_app


@pytest.fixture
def redis_url() -> Iterator[str]:
    # A short folder: Unix socket paths are limited to about 100 characters.
    with tempfile.TemporaryDirectory(prefix="anc-", dir="/tmp") as folder, \
            PrivateRedis(Path(folder)) as server:
        yield server.url


async def test_inbound_is_queued_once_on_the_engine_queue(
        store_url: str, tmp_path: Path, rt: Runtime, redis_url: str,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    settings = make_settings(store_url, tmp_path, REDIS_URL=redis_url, redis_prefix="t1")
    app = create_app(settings, runtime=rt)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for _ in range(3):
                assert (await post_signed(c, "/webhooks/twilio/sms",
                                          inbound_form(sid="SMq1"))).status_code == 200
            assert (await c.get("/readyz")).json()["checks"]["redis"] == "ok"
        [event] = await inbound_events(session_maker)
        redis = app.state.ancrage.redis
        queued = await redis.zrange(queue_name(settings), 0, -1)
        assert queued == [f"t1:inbound:{event.id}".encode()]
        info = await Job(f"t1:inbound:{event.id}", redis).info()
        assert info is not None
        assert (info.function, info.args) == ("process_inbound_job", (event.id,))


async def test_redis_down_mid_flight_still_stores(
        store_url: str, tmp_path: Path, rt: Runtime, redis_url: str,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    settings = make_settings(store_url, tmp_path, REDIS_URL=redis_url, redis_prefix="t2")
    app = create_app(settings, runtime=rt)
    async with app.router.lifespan_context(app):
        admin = Redis.from_url(redis_url)
        await admin.shutdown(nosave=True)
        await admin.aclose()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            response = await post_signed(c, "/webhooks/twilio/sms", inbound_form(sid="SMq2"))
            assert response.status_code == 200
            assert (await c.get("/readyz")).status_code == 503
    [event] = await inbound_events(session_maker)
    assert event.status == "received"


async def test_a_batch_of_jobs_is_queued_once_each(store_url: str, tmp_path: Path,
                                                   redis_url: str) -> None:
    """Concurrent enqueues share one script call; a job already queued is not queued again."""
    import asyncio

    from arq.connections import RedisSettings, create_pool

    from webhooks.queue import arq_enqueue

    settings = make_settings(store_url, tmp_path, REDIS_URL=redis_url, redis_prefix="t3")
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        enqueue = arq_enqueue(pool, settings)
        await enqueue("process_inbound_job", 1)
        await asyncio.gather(*(enqueue("process_inbound_job", n) for n in (1, 2, 3, 4, 2)))
        queued = sorted(await pool.zrange(queue_name(settings), 0, -1))
        assert queued == [f"t3:inbound:{n}".encode() for n in (1, 2, 3, 4)]
        for n in (1, 2, 3, 4):
            info = await Job(f"t3:inbound:{n}", pool).info()
            assert info is not None and (info.function, info.args) == ("process_inbound_job", (n,))
    finally:
        await pool.aclose()
