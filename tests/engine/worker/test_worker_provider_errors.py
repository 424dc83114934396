"""Provider failures through a real arq worker and the real clients.

Twilio answering 500 or 429, or too slowly: the delivery is retried with
backoff and sent once, even when the slow request was accepted after the client
gave up (the retry asks Twilio first). Permanent errors fall back to the next
channel: an invalid number (21211) to email, a dead FCM token (UNREGISTERED)
disables the token and falls back to SMS, and 21610 records the learner's SMS
opt-out so that the next step goes by email without trying SMS again.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from engine.channels.registry import build_channels
from engine.channels.twilio import TwilioChannel, TwilioConfig
from engine.services.bootstrap import channel_settings
from engine.services.dispatch import AMBIGUOUS_SETTLE
from engine.settings import Settings
from engine.store.models import Learner, PushToken
from tests.support.engine_harness import HandClock, write_campaign
from tests.support.sessions import add_session
from tests.support.worker_harness import (
    TCP_REDIS,
    Providers,
    drain,
    driver,
    live_settings,
    running_worker,
    wait_for,
)
from tests.support.worker_scenarios import START, phone

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

CAMPAIGN = """
campaign: open
title: Erreurs fournisseurs
defaults:
  channels: [push, sms, email]
  window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
steps:
  - id: hello
    at: +10min
    message: "Bonjour {{ learner.first_name }} ({{ learner.last_name }})."
  - id: again
    at: +2h
    message: "Rebonjour {{ learner.first_name }} ({{ learner.last_name }})."
"""
DEAD_TOKEN = "fcm-dead-token-0005"


def _channels(settings: Settings) -> dict[str, object]:
    """The live channels, with a 1-second Twilio timeout so that "slow" times out quickly."""
    config = channel_settings(settings)
    channels: dict[str, object] = dict(build_channels(config))
    channels["sms"] = TwilioChannel(TwilioConfig(**{**config["twilio"], "timeout": 1.0}), name="sms")
    return channels


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_retries_fallbacks_and_opt_out(store_url: str, tmp_path: Path, providers: Providers) -> None:
    write_campaign(tmp_path / "campaigns", CAMPAIGN, "open.yaml")
    twilio = providers.twilio
    twilio.slow_seconds = 2.0
    for index, failure in ((1, "server_error"), (2, "rate_limited"), (3, "slow"), (4, "invalid"),
                           (6, "unsubscribed")):
        twilio.fail(phone(index), failure)  # type: ignore[arg-type]
    providers.fcm.fail(DEAD_TOKEN, "unregistered")
    clock = HandClock(START)
    settings = live_settings(store_url, TCP_REDIS, tmp_path, providers, tmp_path / "campaigns")
    async with driver(settings, clock) as drv, running_worker(settings, clock, channels=_channels(settings)):
        _, learners = await add_session(drv, learners=[
            {"first_name": f"L{i}", "last_name": f"n{i}", "phone": phone(i), "email": f"l{i}@example.fr"}
            for i in range(1, 7)], campaigns=["open"], ends_at=START)
        async with drv.rt.sessions() as session, session.begin():
            session.add(PushToken(learner_id=learners[4].id or 0, token=DEAD_TOKEN, platform="ios"))
        await drv.tick()

        clock.advance(minutes=10)
        await drv.tick()
        await drain(drv)
        hello = {d.learner_id: d for d in await drv.deliveries() if d.step_id == "hello"}
        by_index = {i: hello[learners[i - 1].id or 0] for i in range(1, 7)}
        for index, code in ((1, "20500"), (2, "20429"), (3, "timeout")):
            row = by_index[index]
            assert (row.status, row.error_code, row.attempts) == ("planned", code, 1), index
            assert row.due_at >= clock.now + timedelta(seconds=30)  # backoff, not an immediate retry
        assert (by_index[4].status, by_index[4].channel) == ("sent", "email")
        assert (by_index[5].status, by_index[5].channel) == ("sent", "sms")
        assert (by_index[6].status, by_index[6].channel) == ("sent", "email")
        async with drv.rt.sessions() as session:
            token = (await session.exec(select(PushToken).where(PushToken.token == DEAD_TOKEN))).one()
            stopped = await session.get(Learner, learners[5].id)
        assert token.disabled_at is not None
        assert stopped is not None and stopped.opted_out_sms_at is not None

        # The provider recovers; the slow request was accepted after the client gave up.
        for index in (1, 2, 3):
            twilio.failures.pop(phone(index))

        async def slow_one_landed() -> bool:
            return any(m["to"] == phone(3) for m in twilio.messages)

        await wait_for(slow_one_landed, timeout=10, what="the slow request to be accepted")
        clock.advance(minutes=2)
        await drv.tick()
        await drain(drv)
        clock.set(START + timedelta(hours=2, minutes=10))
        await drv.tick()
        await drain(drv)
        deliveries = await drv.deliveries()

    assert {d.status for d in deliveries} == {"sent"}, [(d.id, d.status, d.status_reason) for d in deliveries]
    assert providers.per_delivery() == {d.id: 1 for d in deliveries}
    again = {d.learner_id: d for d in deliveries if d.step_id == "again"}
    assert again[learners[5].id or 0].channel == "email"
    assert again[learners[5].id or 0].rendered["tried"] == ["email"]  # SMS never tried again after 21610
    assert again[learners[4].id or 0].channel == "sms"  # the dead token is not used again
    assert not any(m["to"] == phone(6) for m in twilio.messages)
    assert Counter(m["to"] for m in twilio.messages) == {phone(1): 2, phone(2): 2, phone(3): 2, phone(5): 2}
    assert len(providers.fcm.sent) == 0 and providers.fcm.attempts == {DEAD_TOKEN: 1}


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_timed_out_send_is_not_retried_before_the_late_request_can_land(
        store_url: str, tmp_path: Path, providers: Providers) -> None:
    """The soak's double sends: Twilio accepts a request after the client gave up, and a retry
    that looked it up sooner found nothing and sent a second copy. The retry now waits
    ``AMBIGUOUS_SETTLE``, and its look-up then finds the late message."""
    write_campaign(tmp_path / "campaigns", CAMPAIGN, "open.yaml")
    twilio = providers.twilio
    twilio.slow_seconds = 2.5
    twilio.fail(phone(1), "slow")  # type: ignore[arg-type]
    clock = HandClock(START)
    settings = live_settings(store_url, TCP_REDIS, tmp_path, providers, tmp_path / "campaigns")
    async with driver(settings, clock) as drv, running_worker(settings, clock, channels=_channels(settings)):
        await add_session(drv, learners=[{"first_name": "Ana", "last_name": "A", "phone": phone(1),
                                          "email": "ana@example.fr"}], campaigns=["open"], ends_at=START)
        await drv.tick()
        clock.advance(minutes=10)
        await drv.tick()
        await drain(drv)
        [row] = [d for d in await drv.deliveries() if d.step_id == "hello"]
        assert (row.status, row.error_code) == ("planned", "timeout")
        assert row.due_at >= clock.now + AMBIGUOUS_SETTLE
        assert twilio.messages == []  # still being worked through at the provider

        twilio.failures.pop(phone(1))
        clock.advance(seconds=31)  # the plain backoff has passed: a retry then would look too soon
        await drv.tick()
        await drain(drv)
        assert [d.status for d in await drv.deliveries() if d.step_id == "hello"] == ["planned"]

        async def landed() -> bool:
            return len(twilio.messages) == 1

        await wait_for(landed, timeout=10, what="the slow request to be accepted")
        clock.advance(seconds=AMBIGUOUS_SETTLE.total_seconds())
        await drv.tick()
        await drain(drv)
        [row] = [d for d in await drv.deliveries() if d.step_id == "hello"]

    assert row.status == "sent" and row.provider_id == twilio.messages[0]["sid"]
    assert len(twilio.messages) == 1 and providers.per_delivery() == {row.id: 1}
