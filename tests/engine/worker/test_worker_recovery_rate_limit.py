"""A batch waiting for its rate-limit slots is never "recovered" while it waits.

Recovery settles deliveries left in ``sending`` longer than ``STALE_AFTER``
(5 minutes: longer than any one provider call). At a long code's 1 SMS/s a
batch of 400 waits nearly 7 minutes for its slots: had the batch been marked
``sending`` at once, recovery would have found the tail of it stale, seen no
message at the provider yet, and queued it again, to go out twice.

Deliveries are marked a wave at a time just before their own calls, so a row
is in ``sending`` for at most about ``WAVE_SECONDS`` plus the call. Scaled down
(5 SMS/s, 40 messages: 8 s of waiting, ``STALE_AFTER`` shrunk to 2.5 s, still
longer than a wave and its call), the worker's recovery runs all along the wait:
it must find nothing stale, and every message goes out exactly once.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select
from worker_harness import TCP_REDIS, Providers, drain, driver, live_settings, running_worker
from worker_scenarios import START, add_session, numbered, write_open_campaign

from engine.services import dispatch, recovery
from engine.services.recovery import recover_stale
from engine.store.models import Delivery

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")
RATE = 5
MESSAGES = 40
STALE = timedelta(seconds=2.5)


class RunningClock:
    """The test's start time, then moving with real time (recovery compares real durations)."""

    def __init__(self) -> None:
        self.origin = time.monotonic()
        self.offset = timedelta()

    def __call__(self):  # type: ignore[no-untyped-def]
        return START + self.offset + timedelta(seconds=time.monotonic() - self.origin)

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_batch_waiting_for_rate_limit_slots_is_not_recovered(
        store_url: str, tmp_path: Path, providers: Providers, monkeypatch: pytest.MonkeyPatch) -> None:
    assert STALE.total_seconds() > dispatch.WAVE_SECONDS + dispatch.MARK_LEAD + 1  # a wave and its call
    assert 3 * STALE.total_seconds() < MESSAGES / RATE  # the whole wait would have been "stale"
    monkeypatch.setattr(recovery, "STALE_AFTER", STALE)
    write_open_campaign(tmp_path / "campaigns", channels="[sms]")
    clock = RunningClock()
    settings = live_settings(store_url, TCP_REDIS, tmp_path, providers, tmp_path / "campaigns",
                             twilio_rate_per_second=float(RATE))
    recovered = 0
    most_sending = 0
    async with driver(settings, clock) as drv, running_worker(settings, clock, max_jobs=1):
        await add_session(drv, numbered(MESSAGES))
        await drv.tick()
        clock.advance(minutes=10)
        assert (await drv.tick()).claimed == MESSAGES  # one job: the whole batch, one sender
        started = time.monotonic()
        while await drv.queued_jobs() and time.monotonic() - started < 60:
            recovered += await recover_stale(drv.rt, now=clock())
            async with drv.rt.sessions() as session:
                sending = (await session.exec(select(func.count()).select_from(Delivery).where(
                    col(Delivery.status) == "sending"))).one()
            most_sending = max(most_sending, int(sending))
            await asyncio.sleep(0.2)
        await drain(drv, timeout=30)
        deliveries = await drv.deliveries()

    assert time.monotonic() - started >= (MESSAGES - 1) / RATE - 1  # the batch did wait for its slots
    assert recovered == 0
    assert most_sending <= 2 * RATE * dispatch.WAVE_SECONDS, most_sending  # a wave or two, never the batch
    assert {d.status for d in deliveries} == {"sent"}
    assert providers.per_delivery() == {d.id: 1 for d in deliveries}
