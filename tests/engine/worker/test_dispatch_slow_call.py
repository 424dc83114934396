"""A batch keeps each learner's order, and a slow provider call holds its learner, not its batch.

Each learner has two messages due together: a batch sends the first in one round
and the second in the next (one message per learner per round).

- Twilio answers one learner's requests slowly: the other learners' second
  messages do not wait for that answer, the slow learner's second one does.
- Twilio answers one learner's first message with a 500: its retry is planned,
  and the learner's second message is not sent before it (handed back to
  ``planned``, held by the claim until the retry is sent).
- The rounds follow the messages' due times, not their row ids.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col

from engine.channels.twilio import TwilioChannel, TwilioConfig
from engine.services import dispatch
from engine.services.bootstrap import close_runtime
from engine.store.models import Delivery
from tests.support.engine_harness import Engine, make_engine, write_campaign
from tests.support.sessions import add_session
from tests.support.worker_harness import SENDER, Providers
from tests.support.worker_scenarios import START, phone

pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

CAMPAIGN = """
campaign: pair
title: Deux messages
defaults:
  channels: [sms]
  window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59"}
steps:
  - id: first
    at: +10min
    message: "Premier message pour {{ learner.first_name }}."
  - id: second
    at: +10min
    message: "Second message pour {{ learner.first_name }}."
"""


async def _engine(store_url: str, tmp_path: Path, providers: Providers) -> Engine:
    twilio = providers.twilio
    sms = TwilioChannel(TwilioConfig(account_sid=twilio.account_sid, auth_token=twilio.auth_token,
                                     from_number=SENDER, api_base=providers.twilio_url, timeout=10.0), name="sms")
    write_campaign(tmp_path / "campaigns", CAMPAIGN, "pair.yaml")
    engine = await make_engine(store_url, tmp_path, tmp_path / "campaigns", start=START, channels={"sms": sms})
    await add_session(engine, learners=[{"first_name": f"L{i}", "last_name": "n", "phone": phone(i)}
                                        for i in range(1, 5)], campaigns=["pair"], ends_at=START)
    return engine


async def _send_due(engine: Engine) -> list[Delivery]:
    """Past the steps' time: the tick enrols, the next one claims and sends (one batch)."""
    engine.clock.advance(minutes=11)
    await engine.tick()
    await engine.tick()
    return await engine.deliveries()


def _accepted(providers: Providers) -> list[tuple[str, str]]:
    """(number, first word) of each SMS, in the order Twilio accepted them."""
    return [(m["to"], m["body"].split()[0]) for m in providers.twilio.messages]


@pytest.mark.parametrize("store_url", ["postgresql", "sqlite"], indirect=True)
async def test_a_slow_call_holds_only_its_learner(store_url: str, tmp_path: Path, providers: Providers,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "DETACH_AFTER", 0.3)
    twilio = providers.twilio
    twilio.slow_seconds = 1.5
    twilio.fail(phone(1), "slow")
    engine = await _engine(store_url, tmp_path, providers)
    try:
        deliveries = await _send_due(engine)
    finally:
        await close_runtime(engine.rt)

    assert len(deliveries) == 8
    assert Counter(d.status for d in deliveries) == {"sent": 8}
    # The order Twilio accepted them in: the slow learner's first message came back last but one.
    accepted = _accepted(providers)
    assert Counter(accepted) == {(phone(i), word): 1 for i in range(1, 5) for word in ("Premier", "Second")}
    slow_first = accepted.index((phone(1), "Premier"))
    others_second = [accepted.index((phone(i), "Second")) for i in range(2, 5)]
    assert max(others_second) < slow_first, accepted  # the others did not wait for it
    assert accepted.index((phone(1), "Second")) > slow_first  # its learner did
    assert len(engine.sent_batches) == 1  # one batch did it all, in one job


@pytest.mark.parametrize("store_url", ["postgresql", "sqlite"], indirect=True)
async def test_a_retry_holds_its_learners_next_message(store_url: str, tmp_path: Path, providers: Providers) -> None:
    providers.twilio.fail(phone(1), "server_error")
    engine = await _engine(store_url, tmp_path, providers)
    try:
        rows = await _send_due(engine)
        slow_learner = min(d.learner_id for d in rows)  # the first learner added: phone(1)
        first, second = sorted((d for d in rows if d.learner_id == slow_learner), key=lambda d: d.step_id)
        assert (first.step_id, first.status, first.attempts) == ("first", "planned", 1)  # the retry
        assert (second.step_id, second.status, second.attempts) == ("second", "planned", 0)  # never tried
        assert second.status_reason == dispatch.BEHIND_RETRY
        assert sorted(_accepted(providers)) == sorted((phone(i), w) for i in range(2, 5) for w in ("Premier", "Second"))
        # Twilio recovers; past the retry's backoff the two go out, in the campaign's order.
        providers.twilio.failures.clear()
        for _ in range(3):
            engine.clock.advance(minutes=2)
            await engine.tick()
        mine = [word for to, word in _accepted(providers) if to == phone(1)]
    finally:
        await close_runtime(engine.rt)
    assert mine == ["Premier", "Second"]


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_rounds_follow_due_times_not_row_ids(store_url: str, tmp_path: Path, providers: Providers) -> None:
    engine = await _engine(store_url, tmp_path, providers)
    try:
        await engine.tick()  # enrols: the deliveries are planned
        async with engine.rt.sessions() as session, session.begin():  # the second step now due first
            await session.exec(update(Delivery).where(col(Delivery.step_id) == "second")  # type: ignore[call-overload]
                               .values(due_at=Delivery.due_at - timedelta(minutes=5)))
        engine.clock.advance(minutes=11)
        await engine.tick()
        assert len(engine.sent_batches) == 1
    finally:
        await close_runtime(engine.rt)
    for i in range(1, 5):
        assert [word for to, word in _accepted(providers) if to == phone(i)] == ["Second", "Premier"]
