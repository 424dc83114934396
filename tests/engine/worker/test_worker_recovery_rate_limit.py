"""A batch waiting for its rate-limit slots is never re-queued by recovery while it waits.

Recovery settles deliveries left in ``sending`` longer than ``STALE_AFTER``
(5 minutes). Had a rate-limited batch been marked ``sending`` at once, the
rows still waiting for their slot would look stale, recovery would find no
message at the provider yet, and queue them again: sent twice.

Deliveries are marked a wave at a time just before their own calls, so a row
waits in ``sending`` *before* its call for at most about ``WAVE_SECONDS``. After
its call it stays ``sending`` until the job records the batch's answers: at most
the limiter's longest wait (``MAX_WAIT_SECONDS``, slots further away are handed
back) plus the call's timeout, well under ``STALE_AFTER`` (checked below). Even
a recovery run during that wait finds those messages at the provider and only
marks them ``sent``. Scaled down (5 SMS/s, 40 messages: 8 s of waiting,
``STALE_AFTER`` shrunk to 2.5 s, still longer than a wave and its call),
recovery runs all along the wait: it must never queue one again, and every
message goes out exactly once.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.channels.email import SmtpConfig
from engine.channels.fcm import FcmConfig
from engine.channels.twilio import TwilioConfig
from engine.ratelimit import MAX_WAIT_SECONDS
from engine.services import dispatch, recovery
from engine.services.recovery import recover_stale
from engine.store.base import DeliveryStatus
from tests.support.sessions import add_session
from tests.support.worker_harness import (
    TCP_REDIS,
    Providers,
    drain,
    driver,
    live_settings,
    running_worker,
)
from tests.support.worker_scenarios import START, numbered, write_open_campaign

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


async def test_the_longest_legitimate_sending_is_shorter_than_stale_after() -> None:
    call = max(TwilioConfig.timeout, FcmConfig.timeout, SmtpConfig.timeout)
    longest = dispatch.WAVE_SECONDS + MAX_WAIT_SECONDS + call  # marked, waits for the last slot, its call
    assert longest < recovery.STALE_AFTER.total_seconds() / 2, longest


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_batch_waiting_for_rate_limit_slots_is_not_requeued(
        store_url: str, tmp_path: Path, providers: Providers, monkeypatch: pytest.MonkeyPatch) -> None:
    assert STALE.total_seconds() > dispatch.WAVE_SECONDS + dispatch.MARK_LEAD + 1  # a wave and its call
    assert 3 * STALE.total_seconds() < MESSAGES / RATE  # the whole wait would have been "stale"
    monkeypatch.setattr(recovery, "STALE_AFTER", STALE)
    outcomes: list[str] = []
    settle = recovery._settle

    async def watched(*args: Any) -> Any:
        outcome = await settle(*args)
        outcomes.append(outcome[0] if outcome else "looked again later")
        return outcome

    monkeypatch.setattr(recovery, "_settle", watched)
    write_open_campaign(tmp_path / "campaigns", channels="[sms]")
    clock = RunningClock()
    settings = live_settings(store_url, TCP_REDIS, tmp_path, providers, tmp_path / "campaigns",
                             twilio_rate_per_second=float(RATE))
    async with driver(settings, clock) as drv, running_worker(settings, clock, max_jobs=1):
        await add_session(drv, learners=numbered(MESSAGES), campaigns=["open"], ends_at=START)
        await drv.tick()
        clock.advance(minutes=10)
        assert (await drv.tick()).claimed == MESSAGES  # one job: the whole batch, one sender
        started = time.monotonic()
        while await drv.queued_jobs() and time.monotonic() - started < 60:
            await recover_stale(drv.rt, now=clock())
            await asyncio.sleep(0.2)
        await drain(drv, timeout=30)
        deliveries = await drv.deliveries()

    assert time.monotonic() - started >= (MESSAGES - 1) / RATE - 1  # the batch did wait for its slots
    assert DeliveryStatus.QUEUED not in outcomes, outcomes  # none queued again while waiting
    assert set(outcomes) <= {DeliveryStatus.SENT}, outcomes  # at most: already called, found at the provider
    assert {d.status for d in deliveries} == {"sent"}
    assert providers.per_delivery() == {d.id: 1 for d in deliveries}
