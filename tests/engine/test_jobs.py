"""Job names, ids and the enqueue helper that the web app, the demo and the worker share."""

from __future__ import annotations

import tempfile
from pathlib import Path

from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job

from engine.jobs import (
    JOB_NAMES,
    PROCESS_INBOUND_JOB,
    SEND_BATCH_JOB,
    batch_enqueuer,
    enqueue_job,
    job_id,
    job_key,
    queue_name,
)
from engine.redis_server import PrivateRedis
from engine.settings import Settings
from engine.worker import worker_settings


def _settings() -> Settings:
    return Settings(redis_prefix="jobs-test")


def test_ids_and_queue_carry_the_prefix() -> None:
    settings = _settings()
    assert queue_name(settings) == "jobs-test:queue"
    assert job_id(settings, "inbound:7") == "jobs-test:inbound:7"
    assert job_key(PROCESS_INBOUND_JOB, 7) == "inbound:7"
    assert job_key("other_job", 7) == "other_job:7"


def test_the_worker_runs_every_named_job() -> None:
    kwargs = worker_settings(_settings(), "redis://127.0.0.1:1", tick_every=None)
    assert sorted(function.__name__ for function in kwargs["functions"]) == sorted(JOB_NAMES)
    assert kwargs["queue_name"] == "jobs-test:queue"


async def test_a_job_is_queued_once_under_its_id() -> None:
    settings = _settings()
    with tempfile.TemporaryDirectory(prefix="anc-", dir="/tmp") as folder, PrivateRedis(Path(folder)) as server:
        pool = await create_pool(RedisSettings.from_dsn(server.url))
        try:
            enqueue = batch_enqueuer(pool, settings)
            assert await enqueue("batch:1", [1, 2]) is True
            assert await enqueue("batch:1", [1, 2]) is False
            assert await enqueue_job(pool, settings, PROCESS_INBOUND_JOB, 5, key=job_key(PROCESS_INBOUND_JOB, 5))
            assert await pool.zrange(queue_name(settings), 0, -1) == [b"jobs-test:batch:1", b"jobs-test:inbound:5"]
            info = await Job("jobs-test:batch:1", pool).info()
            assert info is not None and (info.function, info.args) == (SEND_BATCH_JOB, ([1, 2],))
        finally:
            await pool.aclose()
