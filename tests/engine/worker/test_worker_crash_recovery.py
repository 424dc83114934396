"""A worker SIGKILLed in the middle of provider calls: recovery asks Twilio before resending.

One SMS was accepted by Twilio but the answer never came back; another never
reached Twilio. After :data:`STALE_AFTER` the tick settles both: the first
becomes ``sent`` through ``TwilioChannel.find_sent`` (no second SMS), the second
is queued again and sent once. The killed job itself is retried by arq when its
in-progress key expires; the compare-and-set makes that rerun harmless.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from redis.asyncio import Redis

from engine.jobs import job_id
from engine.services.recovery import STALE_AFTER
from tests.support.engine_harness import HandClock
from tests.support.sessions import add_session
from tests.support.worker_harness import (
    ChildWorker,
    Providers,
    drain,
    driver,
    live_settings,
    running_worker,
    wait_for,
)
from tests.support.worker_scenarios import START, phone, write_open_campaign

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_killed_mid_send_is_settled_without_a_duplicate(store_url: str, tmp_path: Path,
                                                              providers: Providers) -> None:
    write_open_campaign(tmp_path / "campaigns", channels="[sms]")
    accepted, unseen = phone(1), phone(2)
    providers.twilio.hold_after.add(accepted)   # Twilio takes it, the answer never comes
    providers.twilio.hold_before.add(unseen)    # the request never reaches Twilio
    clock = HandClock(START)
    settings = live_settings(store_url, "redis://127.0.0.1:6379/0", tmp_path, providers, tmp_path / "campaigns")
    async with driver(settings, clock) as drv:
        await add_session(drv, learners=[{"first_name": "Ana", "last_name": "A", "phone": accepted},
                                {"first_name": "Bob", "last_name": "B", "phone": unseen}], campaigns=["open"], ends_at=START)
        await drv.tick()  # the session ends: both enrolled
        clock.advance(minutes=10)
        assert (await drv.tick()).claimed == 2
        [batch_key] = drv.enqueued
        child = ChildWorker(settings, clock_start=clock.now, log=tmp_path / "child.log")
        try:
            async def both_in_flight() -> bool:
                assert child.process.poll() is None, child.output()
                return sorted(providers.twilio.holding) == sorted([accepted, unseen])

            await wait_for(both_in_flight, timeout=30, what="both provider calls in flight")
        finally:
            child.kill()
        assert [d.status for d in await drv.deliveries()] == ["sending", "sending"]
        assert [m["to"] for m in providers.twilio.messages] == [accepted]
        providers.twilio.hold_after.clear()
        providers.twilio.hold_before.clear()

        clock.advance(seconds=STALE_AFTER.total_seconds() - 60)
        assert (await drv.tick()).recovered == 0  # not stale yet: the worker may still be alive
        clock.advance(minutes=2)
        assert (await drv.tick()).recovered == 2
        by_phone = {d.rendered["body"].split()[-1].rstrip("."): d for d in await drv.deliveries()}
        assert by_phone["A"].status == "sent"
        assert by_phone["A"].provider_id == providers.twilio.messages[0]["sid"]
        assert by_phone["B"].status == "queued"

        # arq retries the killed job once its in-progress key expires (job_timeout + 10 s): do it now.
        redis = Redis.from_url(settings.redis_url or "")
        await redis.delete(f"arq:in-progress:{job_id(settings, batch_key)}")
        await redis.aclose()
        report = await drv.tick()
        assert report.requeued == 1
        async with running_worker(settings, clock):
            await drain(drv)
        deliveries = await drv.deliveries()

    assert [d.status for d in deliveries] == ["sent", "sent"]
    assert Counter(m["to"] for m in providers.twilio.messages) == {accepted: 1, unseen: 1}
    assert providers.per_delivery() == {d.id: 1 for d in deliveries}
