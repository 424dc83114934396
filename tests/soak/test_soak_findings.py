"""What the endurance run found, each reduced to a deterministic reproduction (fixed since).

Recovery re-queued a delivery retried meanwhile by another worker: its
``sending → queued`` compare-and-set checked only the status, and the new
attempt in flight went out twice (deliveries accepted 2-3 times by the fake
Twilio in ``bench/soak.py``). It now requires the same attempt
(:func:`engine.services.recovery.same_attempt`).

Recovery took, by its body, a later delivery's copy of the same message: a review
stuck in ``sending`` (its call never went out) found the same question sent to the
learner a week later, was recorded with that copy's sid, and the later delivery,
stuck too, then looked absent and was sent a second time (the full run of
2026-12-01, night). A copy created after another delivery of the same body was
tried is no longer taken (``find_sent(until=...)``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col

from engine.channels.base import MemoryChannel, OutboundMessage
from engine.channels.twilio import TwilioChannel, TwilioConfig
from engine.fakes.fake_twilio import FakeTwilio
from engine.fakes.server import run_in_thread
from engine.services.recovery import STALE_AFTER, recover_stale
from engine.store.models import Delivery
from tests.support.engine_harness import add_session, make_engine, write_campaign

PARIS = ZoneInfo("Europe/Paris")
SESSION_END = datetime(2026, 3, 30, 10, 0, tzinfo=PARIS)  # a Monday
CAMPAIGN = """
campaign: soak-finding
title: Soak finding
defaults:
  channels: [sms]
  window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59", holidays: true}
steps:
  - id: welcome
    at: +1h
    message: "Bonjour {{ learner.first_name }}."
"""


class RacingChannel(MemoryChannel):
    """An SMS channel whose provider look-up takes long enough for another worker to retry the
    delivery meanwhile (sending -> planned -> queued -> sending: a new attempt, in flight)."""

    def __init__(self, retry: Any) -> None:
        super().__init__("sms")
        self.retry = retry
        self.asked = 0

    async def find_sent(self, *, to: str, body: str, since: datetime, exclude: set[str],
                        until: datetime | None = None) -> str | None:
        self.asked += 1
        await self.retry()
        return None  # the new attempt's call has not reached the provider yet


async def test_recovery_does_not_requeue_a_delivery_retried_meanwhile(store_url: str, tmp_path: Path) -> None:
    engine: Any = None

    async def new_attempt() -> None:
        async with engine.rt.sessions() as session, session.begin():
            await session.exec(update(Delivery).values(
                status="sending", attempts=col(Delivery.attempts) + 1, updated_at=engine.clock.now))

    channel = RacingChannel(new_attempt)
    folder = tmp_path / "campaigns"
    write_campaign(folder, CAMPAIGN)
    engine = await make_engine(store_url, tmp_path, folder, start=SESSION_END, channels={"sms": channel})
    await add_session(engine, title="Manager coach", ends_at=SESSION_END, campaigns=["soak-finding"],
                      learners=[{"first_name": "Camille", "last_name": "Martin", "phone": "+33612345678"}])
    await engine.tick()  # the session has ended: enrolled, the welcome planned at +1h
    stuck_since = engine.clock.now + timedelta(hours=1)
    async with engine.rt.sessions() as session, session.begin():  # a worker died during the provider call
        await session.exec(update(Delivery).values(
            status="sending", channel="sms", claimed_at=stuck_since, updated_at=stuck_since, attempts=1))
    engine.clock.set(stuck_since + STALE_AFTER + timedelta(minutes=1))
    assert await recover_stale(engine.rt, now=engine.clock.now) == 0
    assert channel.asked == 1  # the look-up did run (it is what let the retry in)
    [delivery] = await engine.deliveries()
    assert delivery.attempts == 2
    assert delivery.status == "sending", "the attempt in flight was re-queued: it will be sent twice"


SAME_BODY = """
campaign: soak-same-body
title: Soak same body
defaults:
  channels: [sms]
  window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59", holidays: true}
steps:
  - id: first
    at: +1h
    message: "Même question."
  - id: again
    at: +7d
    message: "Même question."
"""


async def test_recovery_does_not_take_a_later_copy_of_the_same_body(store_url: str, tmp_path: Path) -> None:
    """Two deliveries, one body, both stuck in ``sending``: the first never reached Twilio, the
    second did, a week later. Each settles on its own fate: the first is sent again, the second
    is recorded with its copy's sid (before: the first took that sid, the second was sent twice)."""
    folder = tmp_path / "campaigns"
    write_campaign(folder, SAME_BODY)
    engine: Any = None
    fake = FakeTwilio(send_callbacks=False, clock=lambda: engine.clock.now)
    with run_in_thread(fake.app) as url:
        channel = TwilioChannel(TwilioConfig(account_sid=fake.account_sid, auth_token=fake.auth_token,
                                             from_number="+33700000000", api_base=url), name="sms")
        engine = await make_engine(store_url, tmp_path, folder, start=SESSION_END, channels={"sms": channel})
        phone = "+33612345678"
        await add_session(engine, title="Manager coach", ends_at=SESSION_END, campaigns=["soak-same-body"],
                          learners=[{"first_name": "Camille", "last_name": "Martin", "phone": phone}])
        await engine.tick()
        first, again = sorted(await engine.deliveries(), key=lambda d: d.due_at)
        tried = {first.id: SESSION_END + timedelta(hours=1), again.id: SESSION_END + timedelta(days=7)}
        engine.clock.set(tried[again.id])
        sent = await channel.send(OutboundMessage(delivery_id=again.id or 0, channel="sms", to=phone, body="Même question."))
        sid = sent.provider_id
        async with engine.rt.sessions() as session, session.begin():  # both workers died mid-call
            for delivery_id, at in tried.items():
                await session.exec(update(Delivery).where(col(Delivery.id) == delivery_id).values(
                    status="sending", channel="sms", claimed_at=at, updated_at=at, attempts=1,
                    rendered={"body": "Même question.", "attempt": {"at": at.isoformat(), "to": phone}}))
        engine.clock.set(tried[again.id] + STALE_AFTER + timedelta(minutes=1))
        try:
            assert await recover_stale(engine.rt, now=engine.clock.now) == 2
            settled = {d.id: d for d in await engine.deliveries()}
        finally:
            await channel.aclose()
        assert (settled[again.id].status, settled[again.id].provider_id) == ("sent", sid)
        assert settled[first.id].status == "queued", settled[first.id].status_reason
        assert len(fake.messages) == 1
