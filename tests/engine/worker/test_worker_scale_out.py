"""Several worker processes on one PostgreSQL and one Redis, each running the cron
tick and the send jobs: 2,000 due deliveries, each sent exactly once.

Claims race through ``FOR UPDATE SKIP LOCKED``, every worker enqueues the same
tick id for the same second, and the send job's ``queued → sending``
compare-and-set settles any overlap; the fake Twilio counts what it received.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.support.engine_harness import HandClock
from tests.support.sessions import add_session
from tests.support.worker_harness import (
    TCP_REDIS,
    ChildWorker,
    Providers,
    driver,
    live_settings,
    wait_for,
)
from tests.support.worker_scenarios import START, numbered, write_open_campaign


# Four workers on 2,000 deliveries: more claimers racing than any smaller case, which it subsumes
# (a second run with two workers on 1,000 checked the same thing again, for 30 s of the suite).
@pytest.mark.parametrize(("workers", "deliveries"), [(4, 2000)])
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_many_workers_send_each_delivery_once(store_url: str, workers: int, deliveries: int,
                                                    tmp_path: Path, providers: Providers) -> None:
    write_open_campaign(tmp_path / "campaigns", channels="[sms]")
    clock = HandClock(START + timedelta(minutes=10))  # the session has ended, every message is due
    settings = live_settings(store_url, TCP_REDIS, tmp_path, providers, tmp_path / "campaigns")
    async with driver(settings, clock) as drv:
        await add_session(drv, learners=numbered(deliveries), campaigns=["open"], ends_at=START)
        children = [ChildWorker(settings, clock_start=clock.now, tick_every=1, log=tmp_path / f"w{n}.log")
                    for n in range(workers)]
        try:
            async def all_done() -> bool:
                for child in children:
                    assert child.process.poll() is None, child.output()
                return len(providers.twilio.messages) >= deliveries and await drv.unfinished() == 0

            await wait_for(all_done, timeout=150, what="every delivery to be sent", every=0.2)
        finally:
            for child in children:
                child.stop()
        rows = await drv.deliveries()

    assert len(rows) == deliveries and {d.status for d in rows} == {"sent"}
    assert providers.per_delivery() == {d.id: 1 for d in rows}
    assert len(providers.twilio.messages) == deliveries
    assert len({m["to"] for m in providers.twilio.messages}) == deliveries
