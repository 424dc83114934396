"""Recovery against a fake Twilio that behaves as Twilio does: nothing sent twice.

A worker SIGKILLed while Twilio holds the message still ``queued`` (``date_sent``
null), or after which the learner's phone changes, must not send again: the
lookup uses the number and time recorded when the delivery was marked
``sending`` and Twilio's ``date_created``. A status callback that named the
message (signed delivery id) settles it without any lookup. And a batch is
marked ``sending`` one call at a time: a crash during rate-limited calls
leaves only the call in flight in ``sending``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from engine.jobs import job_id
from engine.services.recovery import STALE_AFTER
from engine.store.deliveries import advance_delivery_status, transition_delivery
from engine.store.models import Learner
from tests.support.engine_harness import HandClock
from tests.support.sessions import add_session
from tests.support.worker_harness import (
    ChildWorker,
    Driver,
    Providers,
    drain,
    driver,
    idle,
    live_settings,
    running_worker,
    wait_for,
)
from tests.support.worker_scenarios import START, phone, write_open_campaign

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def _finish(drv: Driver, clock: HandClock, timeout: float = 30.0) -> None:
    """arq retries the killed job once its in-progress key expires (job_timeout + 10 s): now, then drain."""
    redis = Redis.from_url(drv.settings.redis_url or "")
    for key in drv.enqueued:
        await redis.delete(f"arq:in-progress:{job_id(drv.settings, key)}")
    await redis.aclose()
    await drv.tick()
    async with running_worker(drv.settings, clock) as worker:
        await drain(drv, timeout=timeout)
        await wait_for(lambda: idle(worker), timeout=10, what="the worker's jobs to finish")


async def _kill_mid_send(drv: Driver, providers: Providers, clock: HandClock, tmp_path: Path, held: int) -> None:
    """Claims what is due and lets a child worker send it until ``held`` calls hang, then SIGKILLs it."""
    assert (await drv.tick()).claimed >= held
    child = ChildWorker(drv.settings, clock_start=clock.now, log=tmp_path / "child.log")
    try:
        async def in_flight() -> bool:
            assert child.process.poll() is None, child.output()
            return len(providers.twilio.holding) >= held

        await wait_for(in_flight, timeout=30, what="provider calls in flight")
    finally:
        child.kill()
    providers.twilio.hold_after.clear()
    providers.twilio.hold_before.clear()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_message_still_queued_at_twilio_is_not_sent_twice(store_url: str, tmp_path: Path,
                                                                  providers: Providers) -> None:
    write_open_campaign(tmp_path / "campaigns", channels="[sms]")
    number = phone(1)
    clock = HandClock(START)
    providers.twilio.clock = clock
    providers.twilio.hold_after.add(number)     # Twilio takes it, the answer never comes back
    providers.twilio.hold_queued.add(number)    # and it has not left Twilio yet: date_sent is null
    settings = live_settings(store_url, "redis://127.0.0.1:6379/0", tmp_path, providers, tmp_path / "campaigns")
    async with driver(settings, clock) as drv:
        await add_session(drv, learners=[{"first_name": "Ana", "last_name": "A", "phone": number}],
                          campaigns=["open"], ends_at=START)
        await drv.tick()
        clock.advance(minutes=10)
        await _kill_mid_send(drv, providers, clock, tmp_path, held=1)
        [stuck] = await drv.deliveries()
        assert stuck.status == "sending" and stuck.rendered is not None
        assert stuck.rendered["attempt"]["to"] == number
        assert providers.twilio.messages[0]["date_sent"] is None
        clock.advance(seconds=STALE_AFTER.total_seconds() + 60)
        assert (await drv.tick()).recovered == 1
        await _finish(drv, clock)
        [delivery] = await drv.deliveries()

    assert (delivery.status, delivery.provider_id) == ("sent", providers.twilio.messages[0]["sid"])
    assert Counter(m["to"] for m in providers.twilio.messages) == {number: 1}


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_phone_change_after_the_send_does_not_cause_a_resend(store_url: str, tmp_path: Path,
                                                                     providers: Providers) -> None:
    write_open_campaign(tmp_path / "campaigns", channels="[sms]")
    old, new = phone(1), phone(2)
    clock = HandClock(START)
    providers.twilio.clock = clock
    providers.twilio.smart_encoding = True
    providers.twilio.hold_after.add(old)
    settings = live_settings(store_url, "redis://127.0.0.1:6379/0", tmp_path, providers, tmp_path / "campaigns")
    async with driver(settings, clock) as drv:
        _, [learner] = await add_session(drv, learners=[{"first_name": "Zoé", "last_name": "L’Hôte", "phone": old}],
                                         campaigns=["open"], ends_at=START)
        await drv.tick()
        clock.advance(minutes=10)
        await _kill_mid_send(drv, providers, clock, tmp_path, held=1)
        assert providers.twilio.messages[0]["body"] != providers.twilio.messages[0]["posted_body"]
        async with drv.rt.sessions() as session, session.begin():
            await session.exec(update(Learner).where(Learner.id == learner.id).values(phone=new))  # type: ignore[arg-type]
        clock.advance(seconds=STALE_AFTER.total_seconds() + 60)
        assert (await drv.tick()).recovered == 1
        await _finish(drv, clock)
        [delivery] = await drv.deliveries()

    assert (delivery.status, delivery.provider_id) == ("sent", providers.twilio.messages[0]["sid"])
    assert [m["to"] for m in providers.twilio.messages] == [old]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_a_status_callback_settles_a_stale_send_without_a_lookup(store_url: str, tmp_path: Path,
                                                                       providers: Providers) -> None:
    write_open_campaign(tmp_path / "campaigns", channels="[email]")  # email cannot look a message up
    # The wall clock: the provider-id update stamps ``updated_at`` with it (``onupdate``).
    clock = HandClock(datetime.now(UTC))
    settings = live_settings(store_url, "redis://127.0.0.1:6379/0", tmp_path, providers, tmp_path / "campaigns")
    async with driver(settings, clock) as drv:
        await add_session(drv, learners=[{"first_name": "Ana", "last_name": "A", "email": "ana@example.fr"}],
                          campaigns=["open"], ends_at=clock.now)
        await drv.tick()
        clock.advance(minutes=10)
        assert (await drv.tick()).claimed == 1
        [claimed] = await drv.deliveries()
        async with drv.rt.sessions() as session, session.begin():  # a worker marks it, calls, dies
            assert await transition_delivery(session, delivery_id=claimed.id or 0, from_statuses=["queued"],
                                             to_status="sending", now=clock.now, channel="email")
            # the provider's callback (signed d=<id>) arrives before the worker saved anything
            await advance_delivery_status(session, provider_id="PROV-1", status="queued", now=clock.now,
                                          delivery_id=claimed.id)
        clock.advance(seconds=STALE_AFTER.total_seconds() + 60)
        assert (await drv.tick()).recovered == 1
        [delivery] = await drv.deliveries()
    assert (delivery.status, delivery.provider_id) == ("sent", "PROV-1")
    assert providers.total() == 0


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_rate_limited_batch_is_marked_sending_one_call_at_a_time(store_url: str, tmp_path: Path,
                                                                         providers: Providers) -> None:
    write_open_campaign(tmp_path / "campaigns", channels="[sms]")
    numbers = [phone(i) for i in range(3)]
    clock = HandClock(START)
    providers.twilio.hold_before.update(numbers)  # every call hangs before Twilio records it
    settings = live_settings(store_url, "redis://127.0.0.1:6379/0", tmp_path, providers, tmp_path / "campaigns",
                             twilio_rate_per_second=0.5)  # one call every 2 s
    async with driver(settings, clock) as drv:
        await add_session(drv, learners=[{"first_name": f"L{i}", "last_name": "N", "phone": n} for i, n in enumerate(numbers)],
                          campaigns=["open"], ends_at=START)
        await drv.tick()
        clock.advance(minutes=10)
        await _kill_mid_send(drv, providers, clock, tmp_path, held=1)
        statuses = Counter(d.status for d in await drv.deliveries())
        assert statuses == {"sending": 1, "queued": 2}
        clock.advance(seconds=STALE_AFTER.total_seconds() + 60)
        report = await drv.tick()
        assert (report.recovered, report.requeued) == (1, 2)
        await _finish(drv, clock, timeout=90)  # the killed worker's slots still count: about 10 s
        assert all(d.status == "sent" for d in await drv.deliveries())
    assert Counter(m["to"] for m in providers.twilio.messages) == dict.fromkeys(numbers, 1)
