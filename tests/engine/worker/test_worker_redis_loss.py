"""Redis loses the queue with work in flight (keys flushed, or the private server
restarted): the database still says what was claimed, and the tick enqueues it
again after :data:`REQUEUE_AFTER`. Every delivery is then sent exactly once.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest

from engine.redis_server import PrivateRedis
from engine.services.scheduler import REQUEUE_AFTER
from tests.support.engine_harness import HandClock
from tests.support.sessions import add_session
from tests.support.worker_harness import (
    TCP_REDIS,
    Providers,
    delete_keys,
    drain,
    driver,
    live_settings,
    running_worker,
)
from tests.support.worker_scenarios import START, numbered, write_open_campaign

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
LEARNERS = 30


@pytest.mark.parametrize(("store_url", "loss"), [("postgresql", "flush"), ("sqlite", "restart")],
                         indirect=["store_url"], ids=["pg-flush", "sqlite-restart"])
async def test_lost_queue_is_rebuilt_from_the_database(store_url: str, loss: str, tmp_path: Path,
                                                       providers: Providers) -> None:
    write_open_campaign(tmp_path / "campaigns")
    clock = HandClock(START)
    with tempfile.TemporaryDirectory(prefix="anc-w-", dir="/tmp") as folder:
        private = PrivateRedis(Path(folder))
        redis_url = TCP_REDIS if loss == "flush" else private.start()
        try:
            settings = live_settings(store_url, redis_url, tmp_path, providers, tmp_path / "campaigns")
            async with driver(settings, clock) as drv:
                await add_session(drv, learners=numbered(LEARNERS), campaigns=["open"], ends_at=START)
                await drv.tick()
                clock.advance(minutes=10)
                assert (await drv.tick()).claimed == LEARNERS
                assert await drv.queued_jobs() == 1
                if loss == "flush":
                    await delete_keys(redis_url, settings.redis_prefix)
                else:
                    private.stop()
                    private.start()
                assert await drv.queued_jobs() == 0
                async with running_worker(settings, clock) as worker:
                    if loss == "restart":  # once more under a running worker: it must reconnect, not die
                        private.stop()
                        private.start()
                    clock.advance(seconds=30)
                    assert (await drv.tick()).requeued == 0  # too early to call the job lost
                    clock.advance(seconds=REQUEUE_AFTER.total_seconds())
                    assert (await drv.tick()).requeued == LEARNERS
                    await drain(drv)
                    assert worker.main_task is not None and not worker.main_task.done()
                    clock.advance(seconds=REQUEUE_AFTER.total_seconds() * 2)
                    report = await drv.tick()
                    assert (report.claimed, report.requeued, report.recovered) == (0, 0, 0)
                    await drain(drv)
                deliveries = await drv.deliveries()
        finally:
            private.stop()

    assert len(deliveries) == LEARNERS and {d.status for d in deliveries} == {"sent"}
    assert providers.per_delivery() == {d.id: 1 for d in deliveries}
    assert all(d.sent_at is not None and d.sent_at - START >= timedelta(minutes=11) for d in deliveries)
