"""A slow provider call holds its learner, not its batch.

Each learner has two messages due together: a batch sends the first in one round
and the second in the next (one message per learner per round). Twilio answers
one learner's requests slowly. The other learners' second messages must not wait
for that answer, and the slow learner's second message must wait for its first
(the campaign's order), then go out; every delivery is sent exactly once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from engine.channels.twilio import TwilioChannel, TwilioConfig
from engine.services import dispatch
from engine.services.bootstrap import close_runtime
from tests.support.engine_harness import make_engine, write_campaign
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


@pytest.mark.parametrize("store_url", ["postgresql", "sqlite"], indirect=True)
async def test_a_slow_call_holds_only_its_learner(store_url: str, tmp_path: Path, providers: Providers,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "DETACH_AFTER", 0.3)
    twilio = providers.twilio
    twilio.slow_seconds = 1.5
    twilio.fail(phone(1), "slow")
    sms = TwilioChannel(TwilioConfig(account_sid=twilio.account_sid, auth_token=twilio.auth_token,
                                     from_number=SENDER, api_base=providers.twilio_url, timeout=10.0), name="sms")
    write_campaign(tmp_path / "campaigns", CAMPAIGN, "pair.yaml")
    engine = await make_engine(store_url, tmp_path, tmp_path / "campaigns", start=START, channels={"sms": sms})
    try:
        await add_session(engine, learners=[{"first_name": f"L{i}", "last_name": "n", "phone": phone(i)}
                                            for i in range(1, 5)], campaigns=["pair"], ends_at=START)
        engine.clock.advance(minutes=11)
        await engine.tick()
        await engine.tick()
        deliveries = await engine.deliveries()
    finally:
        await close_runtime(engine.rt)

    assert len(deliveries) == 8
    assert Counter(d.status for d in deliveries) == {"sent": 8}
    # The order Twilio accepted them in: the slow learner's first message came back last but one.
    accepted = [(m["to"], m["body"].split()[0]) for m in twilio.messages]
    assert Counter(accepted) == {(phone(i), word): 1 for i in range(1, 5) for word in ("Premier", "Second")}
    slow_first = accepted.index((phone(1), "Premier"))
    others_second = [accepted.index((phone(i), "Second")) for i in range(2, 5)]
    assert max(others_second) < slow_first, accepted  # the others did not wait for it
    assert accepted.index((phone(1), "Second")) > slow_first  # its learner did
    assert len(engine.sent_batches) == 1  # one batch did it all, in one job
